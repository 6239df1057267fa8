//! Compile-fail cases: every construct `#[backprop]` cannot differentiate is a compile error
//! that points at the offending token and says what to write instead, and the macro still
//! emits the companions, so the user sees the real error and no cascade.
//!
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test --test ui`, then read
//! every `.stderr`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
