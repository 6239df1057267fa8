//! The macro never panics: thousands of mutated and random functions go through the whole
//! transformation, which must return either code that parses or `compile_error!`s.

use proc_macro2::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};
use quote::quote;

use crate::expand::expand;

/// Valid functions of the supported language, and some that are not: the seeds of mutation.
fn corpus() -> Vec<TokenStream> {
    vec![
        quote! {
            fn staged(x: f64, y: f64) -> f64 {
                let sigy = 1.0 / (1.0 + (-y).exp());
                let num = x + sigy;
                let sigx = 1.0 / (1.0 + (-x).exp());
                let xpy = x + y;
                let xpysqr = xpy.powi(2);
                let den = sigx + xpysqr;
                let invden = 1.0 / den;
                num * invden
            }
        },
        quote! {
            pub fn neuron(w: [f64; 3], x: &[f64; 2], n: usize) -> f64 {
                let dot = w[0] * x[0] + w[1] * x[1] + w[2] * (n as f64);
                backprop::sigmoid(dot)
            }
        },
        quote! {
            fn branches(mut x: f64, y: f32, flag: bool) -> f64 {
                const K: f64 = 2.0;
                let mut s = 0.0;
                s += x * K;
                x = x.max(s).clamp(-1.0, 1.0);
                let r = if flag && x > 0.0 { let t = x.tanh(); t * t } else if x < -0.5 { f64::exp(x) } else { y as f64 };
                return r.hypot(s) + x.mul_add(s, 1.0) % 3.0;
            }
        },
        quote! {
            fn calls(r#type: f64, d_x: f64) -> f32 {
                let d_out = g(r#type, 2.0) * inner(&w, d_x);
                let _ = d_out;
                (d_out.ln_1p() as f32).powf(1.5)
            }
        },
        quote! {
            fn bad(&self, (a, b): (f64, f64), v: &mut [f64]) -> i32 {
                for i in 0..3 { let c = |q| q * 2.0; println!("{}", c(a)); }
                unsafe { *v.get_unchecked(0) }
                loop { break; }
                x.unknown().await?
            }
        },
    ]
}

/// A tiny deterministic generator (SplitMix64), so runs are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A token a mutation may insert.
fn random_token(rng: &mut Rng) -> TokenTree {
    let idents = [
        "x", "y", "w", "d_x", "d_out", "out", "let", "mut", "if", "else", "for", "in", "loop",
        "return", "fn", "f64", "f32", "usize", "exp", "powi", "max", "as", "self", "r#type",
        "backprop", "sigmoid", "unsafe", "async", "move", "ref", "_", "wrt", "const", "match",
        "while", "break", "continue",
    ];
    let puncts = [
        '+', '-', '*', '/', '%', '=', '<', '>', '!', '&', '|', '.', ',', ';', ':', '?', '#', '@',
        '^',
    ];
    match rng.below(4) {
        0 => {
            let name = idents[rng.below(idents.len())];
            match name.strip_prefix("r#") {
                Some(raw) => TokenTree::Ident(Ident::new_raw(raw, Span::call_site())),
                None => TokenTree::Ident(Ident::new(name, Span::call_site())),
            }
        }
        1 => TokenTree::Punct(Punct::new(
            puncts[rng.below(puncts.len())],
            if rng.below(2) == 0 {
                Spacing::Alone
            } else {
                Spacing::Joint
            },
        )),
        2 => TokenTree::Literal(match rng.below(4) {
            0 => Literal::f64_unsuffixed(rng.below(100) as f64 / 7.0),
            1 => Literal::i64_unsuffixed(rng.below(10) as i64),
            2 => Literal::f32_suffixed(1.5),
            _ => Literal::string("s"),
        }),
        _ => {
            let delimiter = [
                Delimiter::Parenthesis,
                Delimiter::Bracket,
                Delimiter::Brace,
                Delimiter::None,
            ][rng.below(4)];
            TokenTree::Group(Group::new(delimiter, TokenStream::new()))
        }
    }
}

/// A small edit that often keeps the function valid: one identifier becomes another of the
/// same function (or a method of the rule table), one arithmetic operator another.
fn mutate_plausibly(tokens: TokenStream, rng: &mut Rng, names: &[String]) -> TokenStream {
    let arithmetic = ['+', '-', '*', '/'];
    let methods: Vec<&str> = crate::rules::METHODS.iter().map(|r| r.name).collect();
    let mut trees: Vec<TokenTree> = tokens.into_iter().collect();
    if trees.is_empty() {
        return TokenStream::new();
    }
    let i = rng.below(trees.len());
    let replacement = match &trees[i] {
        TokenTree::Group(group) => {
            let mut inner = Group::new(
                group.delimiter(),
                mutate_plausibly(group.stream(), rng, names),
            );
            inner.set_span(group.span());
            TokenTree::Group(inner)
        }
        TokenTree::Ident(_) if rng.below(3) == 0 => TokenTree::Ident(Ident::new(
            methods[rng.below(methods.len())],
            Span::call_site(),
        )),
        TokenTree::Ident(_) if !names.is_empty() => {
            let name = &names[rng.below(names.len())];
            match name.strip_prefix("r#") {
                Some(raw) => TokenTree::Ident(Ident::new_raw(raw, Span::call_site())),
                None => TokenTree::Ident(Ident::new(name, Span::call_site())),
            }
        }
        TokenTree::Punct(p)
            if arithmetic.contains(&p.as_char()) && p.spacing() == Spacing::Alone =>
        {
            TokenTree::Punct(Punct::new(arithmetic[rng.below(4)], Spacing::Alone))
        }
        TokenTree::Literal(_) => TokenTree::Literal(Literal::f64_unsuffixed(
            (rng.below(40) as f64 - 20.0) / 8.0 + 0.125,
        )),
        other => other.clone(),
    };
    trees[i] = replacement;
    trees.into_iter().collect()
}

fn identifiers(tokens: TokenStream, out: &mut Vec<String>) {
    for tree in tokens {
        match tree {
            TokenTree::Ident(i) => out.push(i.to_string()),
            TokenTree::Group(g) => identifiers(g.stream(), out),
            _ => {}
        }
    }
}

/// One random edit somewhere in the tree: delete, duplicate, swap, replace or insert a token,
/// or descend into a group.
fn mutate(tokens: TokenStream, rng: &mut Rng) -> TokenStream {
    let mut trees: Vec<TokenTree> = tokens.into_iter().collect();
    if trees.is_empty() {
        return TokenStream::from(random_token(rng));
    }
    let i = rng.below(trees.len());
    match rng.below(6) {
        0 => {
            trees.remove(i);
        }
        1 => {
            let copy = trees[i].clone();
            trees.insert(i, copy);
        }
        2 => {
            let j = rng.below(trees.len());
            trees.swap(i, j);
        }
        3 => trees[i] = random_token(rng),
        4 => trees.insert(i, random_token(rng)),
        _ => {
            let groups: Vec<usize> = (0..trees.len())
                .filter(|&k| matches!(trees[k], TokenTree::Group(_)))
                .collect();
            if let Some(&k) = groups.get(rng.below(groups.len().max(1)))
                && let TokenTree::Group(group) = &trees[k]
            {
                let mut inner = Group::new(group.delimiter(), mutate(group.stream(), rng));
                inner.set_span(group.span());
                trees[k] = TokenTree::Group(inner);
            }
        }
    }
    trees.into_iter().collect()
}

fn random_args(rng: &mut Rng) -> TokenStream {
    match rng.below(8) {
        0..=4 => TokenStream::new(),
        5 => quote!(wrt(x)),
        6 => quote!(wrt(x, w, nope)),
        _ => mutate(quote!(wrt(x, y)), rng),
    }
}

/// Runs the macro and checks the contract: no panic, and the output parses as items.
/// Returns whether the macro generated companions (rather than errors).
fn check(args: TokenStream, item: TokenStream) -> Result<bool, String> {
    let shown = format!("#[backprop({args})] {item}");
    let output = std::panic::catch_unwind(|| expand(args, item).to_string())
        .map_err(|_| format!("the macro panicked on\n{shown}"))?;
    syn::parse_str::<syn::File>(&output)
        .map_err(|e| format!("the output does not parse ({e}) for\n{shown}\n---\n{output}"))?;
    Ok(!output.contains("compile_error"))
}

#[test]
fn mutated_functions_never_panic_and_always_give_parseable_output() {
    let mut rng = Rng(0x5EED);
    let corpus = corpus();
    let mut failures = Vec::new();
    let mut count = 0;
    let mut generated = 0;
    for round in 0..4000 {
        let mut item = corpus[round % corpus.len()].clone();
        let mut names = Vec::new();
        identifiers(item.clone(), &mut names);
        for _ in 0..=rng.below(3) {
            item = if rng.below(3) == 0 {
                mutate(item, &mut rng)
            } else {
                mutate_plausibly(item, &mut rng, &names)
            };
        }
        count += 1;
        match check(random_args(&mut rng), item) {
            Ok(companions) => generated += usize::from(companions),
            Err(failure) => failures.push(failure),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} mutants failed; first:\n{}",
        failures.len(),
        failures[0]
    );
    println!(
        "{count} mutants: {generated} differentiated, {} rejected with errors",
        count - generated
    );
    // The mutants must reach the sweep and emission, not only the parser's error path.
    assert!(
        generated * 10 > count,
        "only {generated} of {count} mutants were differentiated"
    );
}

#[test]
fn random_token_soup_never_panics() {
    let mut rng = Rng(42);
    for _ in 0..2000 {
        let length = rng.below(30);
        let item: TokenStream = (0..length).map(|_| random_token(&mut rng)).collect();
        let item = quote!(fn f(x: f64) -> f64 { #item });
        let result = check(TokenStream::new(), item);
        assert!(result.is_ok(), "{}", result.err().unwrap_or_default());
    }
}

#[test]
fn valid_corpus_functions_expand_to_companions() {
    for item in corpus().into_iter().take(3) {
        let output = expand(TokenStream::new(), item).to_string();
        assert!(!output.contains("compile_error"), "{output}");
        assert!(output.contains("_backward"), "{output}");
    }
}
