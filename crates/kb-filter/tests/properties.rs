//! Property tests: printing a filter tree and parsing it back gives the same tree, and no
//! input makes any of the parsers panic.

use kb_filter::{
    Comparison, Expr, MAX_FILTER_LEN, Op, OpKind, Operand, Span, parse_expand, parse_fields,
    parse_filter, parse_sort,
};
use proptest::prelude::*;
use serde_json::json;

fn identifier() -> impl Strategy<Value = Operand> {
    "[a-zA-Zé_@#][a-zA-Z0-9é_.:]{0,10}".prop_map(|name| Operand::Identifier {
        name,
        span: Span::default(),
    })
}

fn number() -> impl Strategy<Value = Operand> {
    "-?[0-9]{1,8}(\\.[0-9]{1,4})?".prop_map(|raw| Operand::Number {
        value: raw.parse().expect("the regex only produces valid numbers"),
        raw,
        span: Span::default(),
    })
}

fn text() -> impl Strategy<Value = Operand> {
    let any_chars = prop::collection::vec(any::<char>(), 0..12).prop_map(String::from_iter);
    // Heavy on the characters the escaping has to get right.
    let tricky = "[a \"'\\\\%/\n(),&|=]{0,12}".prop_map(String::from);
    prop_oneof![any_chars, tricky].prop_map(|value| Operand::Text {
        value,
        span: Span::default(),
    })
}

/// Operands with up to three levels of function calls, the most the parser accepts.
fn operand() -> impl Strategy<Value = Operand> {
    let leaf = prop_oneof![identifier(), number(), text()];
    leaf.prop_recursive(3, 16, 4, |inner| {
        (
            "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
            prop::collection::vec(inner, 0..4),
        )
            .prop_map(|(name, args)| Operand::Function {
                name,
                args,
                span: Span::default(),
            })
    })
}

fn op() -> impl Strategy<Value = Op> {
    (prop::sample::select(OpKind::ALL.to_vec()), any::<bool>())
        .prop_map(|(kind, any)| Op { kind, any })
}

fn expr() -> impl Strategy<Value = Expr> {
    let comparison = (operand(), op(), operand()).prop_map(|(left, op, right)| {
        Expr::Compare(Comparison {
            left,
            op,
            right,
            span: Span::default(),
        })
    });
    comparison.prop_recursive(6, 40, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Expr::And(Box::new(l), Box::new(r))),
            (inner.clone(), inner).prop_map(|(l, r)| Expr::Or(Box::new(l), Box::new(r))),
        ]
    })
}

fn strip_operand(operand: &Operand) -> Operand {
    let span = Span::default();
    match operand {
        Operand::Identifier { name, .. } => Operand::Identifier {
            name: name.clone(),
            span,
        },
        Operand::Number { raw, value, .. } => Operand::Number {
            raw: raw.clone(),
            value: *value,
            span,
        },
        Operand::Text { value, .. } => Operand::Text {
            value: value.clone(),
            span,
        },
        Operand::Function { name, args, .. } => Operand::Function {
            name: name.clone(),
            args: args.iter().map(strip_operand).collect(),
            span,
        },
    }
}

/// The tree with every span zeroed, for comparing trees parsed from different text.
fn strip(expr: &Expr) -> Expr {
    match expr {
        Expr::And(l, r) => Expr::And(Box::new(strip(l)), Box::new(strip(r))),
        Expr::Or(l, r) => Expr::Or(Box::new(strip(l)), Box::new(strip(r))),
        Expr::Compare(c) => Expr::Compare(Comparison {
            left: strip_operand(&c.left),
            op: c.op,
            right: strip_operand(&c.right),
            span: Span::default(),
        }),
    }
}

/// Strings over the filter alphabet, so the parser gets far more often than with fully
/// random text.
fn filterish() -> impl Strategy<Value = String> {
    "[a-c@#_.:0-9 ()&|=!<>~?'\"\\\\/,\n-]{0,64}".prop_map(String::from)
}

/// Printed trees, some as they are and some with one token inserted or one character
/// removed: valid filters and near misses, where parser bugs hide.
fn mutated_filter() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "(", ")", "&&", "||", "=", "?~", ",", "'", "\"", "\\", "f(", "// c\n", "-1", "é",
    ]);
    (expr(), any::<prop::sample::Index>(), 0..3u8, token).prop_map(|(expr, index, edit, token)| {
        let mut src = expr.to_string();
        let boundaries: Vec<usize> = src
            .char_indices()
            .map(|(i, _)| i)
            .chain([src.len()])
            .collect();
        let at = *index.get(&boundaries);
        match edit {
            0 => {}
            1 => src.insert_str(at, token),
            _ => {
                if at < src.len() {
                    src.remove(at);
                }
            }
        }
        src
    })
}

fn fieldsish() -> impl Strategy<Value = String> {
    "[a-c*.,:() 0-9]{0,24}|[a-c*.,: ]{0,12}:excerpt\\([0-9 ,tf]{0,6}\\)".prop_map(String::from)
}

proptest! {
    #[test]
    fn printed_trees_parse_back(expr in expr()) {
        let printed = expr.to_string();
        prop_assume!(printed.chars().count() <= MAX_FILTER_LEN);
        let parsed = parse_filter(&printed)
            .map_err(|e| TestCaseError::fail(format!("{printed:?}: {e}")))?
            .expect("a printed tree is never empty");
        prop_assert_eq!(strip(&parsed), strip(&expr));
        prop_assert_eq!(parsed.to_string(), printed);
    }

    #[test]
    fn parsed_filters_print_back(src in mutated_filter()) {
        if let Ok(Some(expr)) = parse_filter(&src) {
            let printed = expr.to_string();
            let reparsed = parse_filter(&printed)
                .map_err(|e| TestCaseError::fail(format!("{printed:?}: {e}")))?
                .expect("a printed tree is never empty");
            prop_assert_eq!(strip(&reparsed), strip(&expr));
        }
    }

    #[test]
    fn filter_never_panics(
        src in any::<String>(),
        shaped in filterish(),
        mutated in mutated_filter(),
    ) {
        for src in [src, shaped, mutated] {
            if let Err(e) = parse_filter(&src) {
                prop_assert!(e.span.start <= e.span.end && e.span.end <= src.len());
                prop_assert!(src.is_char_boundary(e.span.start) && src.is_char_boundary(e.span.end));
            }
        }
    }

    #[test]
    fn sort_never_panics(src in any::<String>(), shaped in "[a-c@+ ,'()-]{0,32}") {
        for src in [src, shaped] {
            if let Ok(items) = parse_sort(&src) {
                prop_assert!(items.len() <= 8);
                for item in items {
                    prop_assert!(src.get(item.span.start..item.span.end).is_some());
                }
            }
        }
    }

    #[test]
    fn expand_never_panics(src in any::<String>(), shaped in "[a-c_., ]{0,32}") {
        for src in [src, shaped] {
            if let Ok(paths) = parse_expand(&src) {
                prop_assert!(paths.iter().all(|p| !p.is_empty() && p.len() <= 6));
            }
        }
    }

    #[test]
    fn fields_never_panics(src in any::<String>(), shaped in fieldsish(), html in any::<String>()) {
        for src in [src, shaped] {
            if let Ok(picker) = parse_fields(&src) {
                let mut value = json!({
                    "a": html.clone(),
                    "b": {"a": [html.clone(), {"c": html.clone()}]},
                    "c": [[{"a": 1, "b": html.clone()}]],
                });
                picker.apply(&mut value);
            }
        }
    }

    #[test]
    fn excerpts_never_panic(html in "(<[/!a-z ]{0,6}>?|&#?[a-z0-9]{0,4};?|[a-zé \n<>\"'])*") {
        let picker = parse_fields("a:excerpt(5,true)").expect("valid");
        let mut value = json!({"a": html});
        picker.apply(&mut value);
        let excerpt = value["a"].as_str().expect("still a string");
        prop_assert!(excerpt.chars().count() <= 8);
    }
}
