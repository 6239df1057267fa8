//! The generated code shown in the README and in the attribute's rustdoc is the code the macro
//! writes today: both are compared with the staged example's snapshot.

/// The code block that follows the `staged-backward` marker in `text`, without `prefix`.
fn block_after_marker(text: &str, prefix: &str) -> String {
    let mut lines = text
        .lines()
        .skip_while(|l| !l.contains("staged-backward:"))
        .skip(2);
    let mut block = String::new();
    for line in lines.by_ref() {
        let line = line
            .strip_prefix(prefix)
            .unwrap_or(line.trim_start_matches('/'));
        if line.starts_with("```") {
            break;
        }
        block.push_str(line);
        block.push('\n');
    }
    block
}

fn snapshot() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/snapshots/staged.expanded.rs"
    ))
    .unwrap()
}

#[test]
fn readme_shows_the_current_generated_code() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert_eq!(
        block_after_marker(&readme, ""),
        snapshot(),
        "update the README's staged_backward block"
    );
}

#[test]
fn attribute_docs_show_the_current_generated_code() {
    let docs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/backprop-macro/src/lib.rs"
    ))
    .unwrap();
    assert_eq!(
        block_after_marker(&docs, "/// "),
        snapshot(),
        "update the attribute's rustdoc"
    );
}
