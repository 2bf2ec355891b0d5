//! Recursive-descent parser from tokens to [`Expr`].
//!
//! Grammar (`&&` binds tighter than `||`, both left-associative):
//!
//! ```text
//! filter     := or?
//! or         := and ("||" and)*
//! and        := primary ("&&" primary)*
//! primary    := "(" or ")" | comparison
//! comparison := operand OP operand
//! operand    := identifier | number | text | name "(" (operand ("," operand)* ","?)? ")"
//! ```
//!
//! Recursion only happens through parentheses and nested function calls, and both are
//! capped ([`MAX_DEPTH`], [`MAX_FUNCTION_DEPTH`]), so no input can exhaust the stack.

use crate::ast::{Comparison, Expr, Operand, Span};
use crate::error::{SyntaxError, quote_snippet};
use crate::lexer::{Token, TokenKind, tokenize};

/// Longest accepted filter, in characters (PocketBase's limit).
pub const MAX_FILTER_LEN: usize = 3500;
/// Most comparisons (`a = b`) one filter may contain (PocketBase's limit).
pub const MAX_EXPRESSIONS: usize = 200;
/// Deepest accepted parenthesis nesting.
pub const MAX_DEPTH: usize = 50;
/// Deepest accepted function call nesting: a call plus two levels of calls inside it,
/// e.g. `f(g(h(x)))`.
pub const MAX_FUNCTION_DEPTH: usize = 3;

/// Parses a filter (also the syntax of API rules).
///
/// Returns `Ok(None)` when the filter holds no expression at all (empty, whitespace or
/// comments only), which callers treat as "no condition".
pub fn parse_filter(src: &str) -> Result<Option<Expr>, SyntaxError> {
    if src.chars().count() > MAX_FILTER_LEN {
        return Err(SyntaxError::new(
            format!("filter is too long (max {MAX_FILTER_LEN} characters)"),
            Span::new(0, src.len()),
        ));
    }
    let tokens = tokenize(src)?;
    if tokens.is_empty() {
        return Ok(None);
    }
    let mut parser = Parser {
        src,
        tokens,
        pos: 0,
        comparisons: 0,
    };
    let expr = parser.or(0)?;
    match parser.peek() {
        None => Ok(Some(expr)),
        Some(token) if token.kind == TokenKind::RParen => Err(SyntaxError::new(
            format!("unmatched \")\" at {}", token.span.start),
            token.span,
        )),
        Some(token) => Err(parser.unexpected(token, "\"&&\" or \"||\"")),
    }
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    comparisons: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Result<Token, SyntaxError> {
        match self.tokens.get(self.pos) {
            Some(token) => {
                self.pos += 1;
                Ok(token.clone())
            }
            None => Err(SyntaxError::new(
                "unexpected end of filter",
                Span::new(self.src.len(), self.src.len()),
            )),
        }
    }

    fn eat(&mut self, kind: &TokenKind) -> bool {
        let matched = self.peek().is_some_and(|t| t.kind == *kind);
        if matched {
            self.pos += 1;
        }
        matched
    }

    fn unexpected(&self, token: &Token, expected: &str) -> SyntaxError {
        let written = self.src.get(token.span.start..token.span.end).unwrap_or("");
        SyntaxError::new(
            format!(
                "unexpected {} at {}, expected {expected}",
                quote_snippet(written),
                token.span.start
            ),
            token.span,
        )
    }

    fn or(&mut self, depth: usize) -> Result<Expr, SyntaxError> {
        let mut left = self.and(depth)?;
        while self.eat(&TokenKind::Or) {
            let right = self.and(depth)?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Expr, SyntaxError> {
        let mut left = self.primary(depth)?;
        while self.eat(&TokenKind::And) {
            let right = self.primary(depth)?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn primary(&mut self, depth: usize) -> Result<Expr, SyntaxError> {
        let Some(open) = self.peek().filter(|t| t.kind == TokenKind::LParen).cloned() else {
            return self.comparison().map(Expr::Compare);
        };
        self.pos += 1;
        if depth >= MAX_DEPTH {
            return Err(SyntaxError::new(
                format!(
                    "parentheses are nested too deeply at {} (max {MAX_DEPTH} levels)",
                    open.span.start
                ),
                open.span,
            ));
        }
        let inner = self.or(depth + 1)?;
        match self.peek() {
            Some(token) if token.kind == TokenKind::RParen => {
                self.pos += 1;
                Ok(inner)
            }
            Some(token) => Err(self.unexpected(token, "\"&&\", \"||\" or \")\"")),
            None => Err(SyntaxError::new(
                format!("missing \")\" for \"(\" at {}", open.span.start),
                open.span,
            )),
        }
    }

    fn comparison(&mut self) -> Result<Comparison, SyntaxError> {
        let left = self.operand(0)?;
        let op_token = self.next()?;
        let TokenKind::Op(op) = op_token.kind else {
            return Err(self.unexpected(&op_token, "an operator such as \"=\" or \"~\""));
        };
        let right = self.operand(0)?;
        let span = Span::new(left.span().start, right.span().end);
        self.comparisons += 1;
        if self.comparisons > MAX_EXPRESSIONS {
            return Err(SyntaxError::new(
                format!("filter has too many expressions (max {MAX_EXPRESSIONS})"),
                span,
            ));
        }
        Ok(Comparison {
            left,
            op,
            right,
            span,
        })
    }

    /// `depth` counts the function calls this operand is nested in.
    fn operand(&mut self, depth: usize) -> Result<Operand, SyntaxError> {
        let token = self.next()?;
        let span = token.span;
        match token.kind {
            TokenKind::Identifier(name) => Ok(Operand::Identifier { name, span }),
            TokenKind::Number { raw, value } => Ok(Operand::Number { raw, value, span }),
            TokenKind::Text(value) => Ok(Operand::Text { value, span }),
            TokenKind::FunctionStart(name) => {
                if depth >= MAX_FUNCTION_DEPTH {
                    return Err(SyntaxError::new(
                        format!(
                            "function calls are nested too deeply at {} (max {MAX_FUNCTION_DEPTH} levels)",
                            span.start
                        ),
                        span,
                    ));
                }
                self.function(name, span, depth)
            }
            _ => Err(self.unexpected(&token, "an identifier, number, text or function")),
        }
    }

    fn function(
        &mut self,
        name: String,
        start: Span,
        depth: usize,
    ) -> Result<Operand, SyntaxError> {
        let mut args = Vec::new();
        loop {
            // Checked before every argument, which is what admits a trailing comma.
            if let Some(close) = self.peek().filter(|t| t.kind == TokenKind::RParen) {
                let end = close.span.end;
                self.pos += 1;
                return Ok(Operand::Function {
                    name,
                    args,
                    span: Span::new(start.start, end),
                });
            }
            args.push(self.operand(depth + 1)?);
            let separator = self.next()?;
            match separator.kind {
                TokenKind::Comma => {}
                TokenKind::RParen => {
                    return Ok(Operand::Function {
                        name,
                        args,
                        span: Span::new(start.start, separator.span.end),
                    });
                }
                _ => return Err(self.unexpected(&separator, "\",\" or \")\"")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::{Op, OpKind};

    fn parse(src: &str) -> Expr {
        parse_filter(src)
            .unwrap_or_else(|e| panic!("{src:?}: {e}"))
            .unwrap_or_else(|| panic!("{src:?}: empty"))
    }

    fn error(src: &str) -> SyntaxError {
        parse_filter(src).unwrap_err()
    }

    /// Renders the tree with explicit grouping so tests can state its shape compactly.
    fn shape(e: &Expr) -> String {
        match e {
            Expr::And(l, r) => format!("({} AND {})", shape(l), shape(r)),
            Expr::Or(l, r) => format!("({} OR {})", shape(l), shape(r)),
            Expr::Compare(c) => c.to_string(),
        }
    }

    fn comparison(src: &str) -> Comparison {
        match parse(src) {
            Expr::Compare(c) => c,
            other => panic!("not a comparison: {other:?}"),
        }
    }

    #[test]
    fn empty_filters() {
        for src in ["", "   ", "\n\t\r ", "// nothing", "  // a\n // b\n"] {
            assert_eq!(parse_filter(src), Ok(None), "{src:?}");
        }
    }

    #[test]
    fn every_operator() {
        for kind in OpKind::ALL {
            for any in [false, true] {
                let op = Op { kind, any };
                let c = comparison(&format!("a {op} 'x'"));
                assert_eq!(c.op, op);
                // Also without surrounding whitespace.
                let c = comparison(&format!("a{op}1"));
                assert_eq!(c.op, op);
            }
        }
        assert_eq!(comparison("a>-1").op.kind, OpKind::Gt);
        assert_eq!(
            comparison("a?!~'x'").op,
            Op {
                kind: OpKind::NotLike,
                any: true
            }
        );
    }

    #[test]
    fn comparison_parts_and_spans() {
        let c = comparison("  title ~ 'Hello'  ");
        assert_eq!(
            c.left,
            Operand::Identifier {
                name: "title".into(),
                span: Span::new(2, 7)
            }
        );
        assert_eq!(
            c.right,
            Operand::Text {
                value: "Hello".into(),
                span: Span::new(10, 17)
            }
        );
        assert_eq!(c.span, Span::new(2, 17));

        let c = comparison("views >= 10.50");
        assert_eq!(
            c.right,
            Operand::Number {
                raw: "10.50".into(),
                value: 10.5,
                span: Span::new(9, 14)
            }
        );
        let c = comparison("@request.auth.id != ''");
        assert_eq!(c.left.to_string(), "@request.auth.id");
    }

    #[test]
    fn precedence_and_grouping() {
        assert_eq!(
            shape(&parse("a=1 || b=2 && c=3")),
            "(a = 1 OR (b = 2 AND c = 3))"
        );
        assert_eq!(
            shape(&parse("a=1 && b=2 || c=3")),
            "((a = 1 AND b = 2) OR c = 3)"
        );
        assert_eq!(
            shape(&parse("(a=1 || b=2) && c=3")),
            "((a = 1 OR b = 2) AND c = 3)"
        );
        assert_eq!(
            shape(&parse("a=1 && b=2 && c=3")),
            "((a = 1 AND b = 2) AND c = 3)"
        );
        assert_eq!(
            shape(&parse("a=1 || b=2 || c=3")),
            "((a = 1 OR b = 2) OR c = 3)"
        );
        assert_eq!(
            shape(&parse("a=1 && (b=2 && c=3)")),
            "(a = 1 AND (b = 2 AND c = 3))"
        );
        assert_eq!(shape(&parse("((((a=1))))")), "a = 1");
        assert_eq!(
            shape(&parse("views > 10 && (tags ~ \"c\" || title ~ \"Hello\")")),
            "(views > 10 AND (tags ~ \"c\" OR title ~ \"Hello\"))"
        );
    }

    #[test]
    fn spec_examples_parse() {
        for src in [
            "views > 10 && (tags ~ \"c\" || title ~ \"Hello\")",
            "created >= @todayStart && created <= @now",
            "@request.auth.id != \"\" && author = @request.auth.id",
            "@collection.memberships.user ?= @request.auth.id && @collection.memberships.team ?= team",
            "@request.body.status:isset = false || @request.auth.role = \"admin\"",
            "geoDistance(loc.lon, loc.lat, 23.32, 42.69) < 25",
            "strftime('%Y-%m', created) = \"2026-11\"",
            "comments_via_post.text ?= \"c2\"",
            "tags:each ?= \"c\" && tags:length > 0",
            "meta.k.0 = 1 && loc.lat > 40",
        ] {
            let expr = parse(src);
            // Printing and re-parsing keeps the meaning.
            assert_eq!(shape(&parse(&expr.to_string())), shape(&expr), "{src}");
        }
    }

    #[test]
    fn escapes_in_text() {
        let c = comparison(r#"title = "a \"quoted\" \\ b""#);
        assert_eq!(c.right.to_string(), r#""a \"quoted\" \\ b""#);
        let Operand::Text { value, .. } = c.right else {
            panic!("not text");
        };
        assert_eq!(value, r#"a "quoted" \ b"#);

        // What `pb.filter("title = {:t}", {t: 'say "hi" \\o/'})` sends.
        let Operand::Text { value, .. } = comparison(r#"title = "say \"hi\" \\o/""#).right else {
            panic!("not text");
        };
        assert_eq!(value, r#"say "hi" \o/"#);
        let Operand::Text { value, .. } = comparison(r"title = 'it\'s'").right else {
            panic!("not text");
        };
        assert_eq!(value, "it's");
    }

    #[test]
    fn comments() {
        assert_eq!(
            shape(&parse("a = 1 // first\n&& b = 2 // second")),
            "(a = 1 AND b = 2)"
        );
        assert_eq!(shape(&parse("// leading\na = 1")), "a = 1");
        assert_eq!(shape(&parse("a = 1 //")), "a = 1");
        assert_eq!(shape(&parse("a = 1 // && b = 2")), "a = 1");
    }

    #[test]
    fn functions() {
        let c = comparison("geoDistance(loc.lon, loc.lat, 23.32, 42.69) < 25");
        let Operand::Function { name, args, span } = &c.left else {
            panic!("not a function");
        };
        assert_eq!(name, "geoDistance");
        assert_eq!(args.len(), 4);
        assert_eq!(*span, Span::new(0, 43));
        assert_eq!(args[2].to_string(), "23.32");

        let c = comparison("strftime('%Y', created, ) = '2026'");
        assert_eq!(c.left.to_string(), "strftime(\"%Y\", created)");
        assert_eq!(comparison("f() = 1").left.to_string(), "f()");
        assert_eq!(comparison("f( ) = 1").left.to_string(), "f()");
        assert_eq!(
            comparison("a = f(g(h(1, 'x'), b), -2)").right.to_string(),
            "f(g(h(1, \"x\"), b), -2)"
        );
        assert_eq!(
            comparison("f(a // comment\n, b) = 1").left.to_string(),
            "f(a, b)"
        );
        assert_eq!(
            error("a = f(g(h(i(1))))").message,
            "function calls are nested too deeply at 10 (max 3 levels)"
        );
        assert_eq!(
            error("f(,) = 1").message,
            "unexpected \",\" at 2, expected an identifier, number, text or function"
        );
        assert_eq!(
            error("f(a,,) = 1").message,
            "unexpected \",\" at 4, expected an identifier, number, text or function"
        );
        assert_eq!(
            error("f(a b) = 1").message,
            "unexpected \"b\" at 4, expected \",\" or \")\""
        );
        assert_eq!(error("f(a").message, "unexpected end of filter");
        assert_eq!(
            error("f(a = 1) = 1").message,
            "unexpected \"=\" at 4, expected \",\" or \")\""
        );
        assert_eq!(
            error("f((a)) = 1").message,
            "unexpected \"(\" at 2, expected an identifier, number, text or function"
        );
    }

    #[test]
    fn syntax_errors() {
        let cases = [
            ("title === 'x'", "invalid sign operator \"===\""),
            ("a = ", "unexpected end of filter"),
            ("a", "unexpected end of filter"),
            (
                "a b",
                "unexpected \"b\" at 2, expected an operator such as \"=\" or \"~\"",
            ),
            (
                "= 1",
                "unexpected \"=\" at 0, expected an identifier, number, text or function",
            ),
            (
                "a = 1 b = 2",
                "unexpected \"b\" at 6, expected \"&&\" or \"||\"",
            ),
            ("a = 1 &&", "unexpected end of filter"),
            (
                "&& a = 1",
                "unexpected \"&&\" at 0, expected an identifier, number, text or function",
            ),
            ("a = 1)", "unmatched \")\" at 5"),
            ("(a = 1", "missing \")\" for \"(\" at 0"),
            (
                "()",
                "unexpected \")\" at 1, expected an identifier, number, text or function",
            ),
            (
                "(a = 1 b",
                "unexpected \"b\" at 7, expected \"&&\", \"||\" or \")\"",
            ),
            (
                "a = 1 = 2",
                "unexpected \"=\" at 6, expected \"&&\" or \"||\"",
            ),
            (
                "a = (1)",
                "unexpected \"(\" at 4, expected an identifier, number, text or function",
            ),
            ("a = 'x", "unterminated text starting at 4"),
            (
                "a, b = 1",
                "unexpected \",\" at 1, expected an operator such as \"=\" or \"~\"",
            ),
        ];
        for (src, message) in cases {
            assert_eq!(error(src).message, message, "{src:?}");
        }
        assert_eq!(error("a = 1 &&").span, Span::new(8, 8));
        assert_eq!(error("title === 'x'").span, Span::new(6, 9));
        let long_text = format!("a = 1 {}", "x".repeat(100));
        assert_eq!(
            error(&long_text).message,
            format!(
                "unexpected \"{}...\" at 6, expected \"&&\" or \"||\"",
                "x".repeat(40)
            )
        );
    }

    #[test]
    fn length_limit_counts_characters() {
        let fits = format!("a = '{}'", "é".repeat(MAX_FILTER_LEN - 6));
        assert!(parse_filter(&fits).is_ok());
        let too_long = format!("a = '{}'", "é".repeat(MAX_FILTER_LEN - 5));
        let err = error(&too_long);
        assert_eq!(err.message, "filter is too long (max 3500 characters)");
        assert_eq!(err.span, Span::new(0, too_long.len()));
    }

    #[test]
    fn expression_limit() {
        let filter = |n: usize| vec!["a=1"; n].join("&&");
        assert!(parse_filter(&filter(MAX_EXPRESSIONS)).is_ok());
        let err = error(&filter(MAX_EXPRESSIONS + 1));
        assert_eq!(err.message, "filter has too many expressions (max 200)");
        assert_eq!(err.span, Span::new(1000, 1003));
    }

    #[test]
    fn depth_limit() {
        let nested = |n: usize| format!("{}a=1{}", "(".repeat(n), ")".repeat(n));
        assert!(parse_filter(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(
            error(&nested(MAX_DEPTH + 1)).message,
            "parentheses are nested too deeply at 50 (max 50 levels)"
        );
        // Far deeper than any stack would allow, still an ordinary error.
        let err = error(&"(".repeat(MAX_FILTER_LEN));
        assert!(err.message.starts_with("parentheses are nested too deeply"));
        // Long flat chains do not recurse.
        let chain = vec!["a=1"; MAX_EXPRESSIONS].join("||");
        assert!(parse_filter(&chain).is_ok());
    }
}
