//! Tokenizer for the filter language (the token set of PocketBase's `fexpr` v0.6).
//!
//! The lexer walks the source one `char` at a time and only ever slices at positions it
//! reached that way, so multi-byte UTF-8 input can never split a character.

use crate::ast::{Op, OpKind, Span};
use crate::error::{SyntaxError, quote_snippet};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    Identifier(String),
    Number {
        raw: String,
        value: f64,
    },
    Text(String),
    /// A function name immediately followed by `(`; the arguments are separate tokens.
    FunctionStart(String),
    Op(Op),
    And,
    Or,
    LParen,
    RParen,
    Comma,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

/// First character of an identifier: a letter, `_`, `@` (macros such as `@now`,
/// `@request.*`) or `#`.
pub(crate) fn is_identifier_start(c: char) -> bool {
    c.is_alphabetic() || matches!(c, '_' | '@' | '#')
}

/// Later characters of an identifier: `.` separates path segments and `:` introduces
/// modifiers (`tags:each`) or collection aliases (`@collection.posts:p`).
pub(crate) fn is_identifier_continue(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | ':')
}

/// Whether the whole of `s` is exactly one identifier token.
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(is_identifier_start) && chars.all(is_identifier_continue)
}

fn is_function_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_operator_char(c: char) -> bool {
    matches!(c, '=' | '!' | '<' | '>' | '~' | '?')
}

fn is_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Splits a filter into tokens, dropping whitespace and `//` comments.
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, SyntaxError> {
    let mut lexer = Lexer { src, pos: 0 };
    let mut tokens = Vec::new();
    while let Some(token) = lexer.next_token()? {
        tokens.push(token);
    }
    Ok(tokens)
}

struct Lexer<'a> {
    src: &'a str,
    /// Byte offset of the next unread character; always on a char boundary.
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.rest().chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn bump_while(&mut self, pred: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&pred) {
            self.bump();
        }
    }

    fn slice(&self, start: usize) -> &'a str {
        self.src.get(start..self.pos).unwrap_or("")
    }

    fn token(&self, kind: TokenKind, start: usize) -> Token {
        Token {
            kind,
            span: Span::new(start, self.pos),
        }
    }

    fn next_token(&mut self) -> Result<Option<Token>, SyntaxError> {
        self.skip_trivia();
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        let token = match c {
            '(' | ')' | ',' => {
                self.bump();
                let kind = match c {
                    '(' => TokenKind::LParen,
                    ')' => TokenKind::RParen,
                    _ => TokenKind::Comma,
                };
                self.token(kind, start)
            }
            '\'' | '"' => self.text(c)?,
            '&' | '|' => self.join()?,
            c if is_operator_char(c) => self.operator()?,
            c if c.is_ascii_digit() => self.number()?,
            '-' if self.peek_second().is_some_and(|c| c.is_ascii_digit()) => self.number()?,
            c if is_identifier_start(c) => self.identifier()?,
            c => {
                return Err(SyntaxError::new(
                    format!("unexpected character {c:?} at {start}"),
                    Span::new(start, start + c.len_utf8()),
                ));
            }
        };
        Ok(Some(token))
    }

    fn skip_trivia(&mut self) {
        loop {
            match self.peek() {
                Some(c) if is_whitespace(c) => {
                    self.bump();
                }
                Some('/') if self.peek_second() == Some('/') => self.bump_while(|c| c != '\n'),
                _ => return,
            }
        }
    }

    /// `'…'` or `"…"`. A backslash escapes the quote character and itself (`\"`, `\\`, as
    /// the JS SDK's `pb.filter()` writes them); before any other character it is kept
    /// literally, so LIKE escapes such as `\%` reach the SQL layer untouched.
    fn text(&mut self, quote: char) -> Result<Token, SyntaxError> {
        let start = self.pos;
        self.bump();
        let mut value = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(SyntaxError::new(
                        format!("unterminated text starting at {start}"),
                        Span::new(start, self.pos),
                    ));
                }
                Some(c) if c == quote => return Ok(self.token(TokenKind::Text(value), start)),
                Some('\\') => match self.peek() {
                    Some(next) if next == quote || next == '\\' => {
                        self.bump();
                        value.push(next);
                    }
                    _ => value.push('\\'),
                },
                Some(c) => value.push(c),
            }
        }
    }

    fn join(&mut self) -> Result<Token, SyntaxError> {
        let start = self.pos;
        self.bump_while(|c| c == '&' || c == '|');
        let kind = match self.slice(start) {
            "&&" => TokenKind::And,
            "||" => TokenKind::Or,
            other => {
                return Err(SyntaxError::new(
                    format!(
                        "invalid join operator {other:?} at {start} (expected \"&&\" or \"||\")"
                    ),
                    Span::new(start, self.pos),
                ));
            }
        };
        Ok(self.token(kind, start))
    }

    fn operator(&mut self) -> Result<Token, SyntaxError> {
        let start = self.pos;
        self.bump_while(is_operator_char);
        let written = self.slice(start);
        let (any, base) = match written.strip_prefix('?') {
            Some(base) => (true, base),
            None => (false, written),
        };
        match OpKind::ALL.into_iter().find(|kind| kind.as_str() == base) {
            Some(kind) => Ok(self.token(TokenKind::Op(Op { kind, any }), start)),
            None => Err(SyntaxError::new(
                // PocketBase's wording, which clients match on; the position is in the span.
                format!("invalid sign operator {}", quote_snippet(written)),
                Span::new(start, self.pos),
            )),
        }
    }

    /// `-?digits(.digits)?`. Anything identifier-like glued to it (`1.`, `1.2.3`, `10px`)
    /// is rejected here rather than silently split into two tokens.
    fn number(&mut self) -> Result<Token, SyntaxError> {
        let start = self.pos;
        if self.peek() == Some('-') {
            self.bump();
        }
        self.bump_while(|c| c.is_ascii_digit());
        if self.peek() == Some('.') && self.peek_second().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            self.bump_while(|c| c.is_ascii_digit());
        }
        if self.peek().is_some_and(is_identifier_continue) {
            self.bump_while(is_identifier_continue);
            return Err(SyntaxError::new(
                format!(
                    "invalid number {} at {start}",
                    quote_snippet(self.slice(start))
                ),
                Span::new(start, self.pos),
            ));
        }
        let raw = self.slice(start).to_owned();
        // The grammar only admits valid float syntax, so this cannot fail; a number too
        // large for f64 parses as infinity.
        let value = raw.parse::<f64>().unwrap_or(f64::NAN);
        Ok(self.token(TokenKind::Number { raw, value }, start))
    }

    fn identifier(&mut self) -> Result<Token, SyntaxError> {
        let start = self.pos;
        self.bump();
        self.bump_while(is_identifier_continue);
        let name = self.slice(start).to_owned();
        if self.peek() != Some('(') {
            return Ok(self.token(TokenKind::Identifier(name), start));
        }
        if !is_function_name(&name) {
            return Err(SyntaxError::new(
                format!("invalid function name {} at {start}", quote_snippet(&name)),
                Span::new(start, self.pos),
            ));
        }
        self.bump();
        Ok(self.token(TokenKind::FunctionStart(name), start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<TokenKind> {
        tokenize(src).unwrap().into_iter().map(|t| t.kind).collect()
    }

    fn error(src: &str) -> String {
        tokenize(src).unwrap_err().message
    }

    fn ident(s: &str) -> TokenKind {
        TokenKind::Identifier(s.to_owned())
    }

    fn text(s: &str) -> TokenKind {
        TokenKind::Text(s.to_owned())
    }

    #[test]
    fn identifiers() {
        assert_eq!(
            kinds("author.name:lower @request.auth.id #x _a1 @collection.posts:p.title é"),
            vec![
                ident("author.name:lower"),
                ident("@request.auth.id"),
                ident("#x"),
                ident("_a1"),
                ident("@collection.posts:p.title"),
                ident("é"),
            ]
        );
        assert!(is_identifier("@random"));
        assert!(is_identifier("a.b:c"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("1a"));
        assert!(!is_identifier("a b"));
        assert!(!is_identifier("a@b"));
    }

    #[test]
    fn numbers() {
        assert_eq!(
            kinds("10 -14 10.50 0"),
            vec![
                TokenKind::Number {
                    raw: "10".into(),
                    value: 10.0
                },
                TokenKind::Number {
                    raw: "-14".into(),
                    value: -14.0
                },
                TokenKind::Number {
                    raw: "10.50".into(),
                    value: 10.5
                },
                TokenKind::Number {
                    raw: "0".into(),
                    value: 0.0
                },
            ]
        );
        assert_eq!(error("1."), "invalid number \"1.\" at 0");
        assert_eq!(error("a = 1.2.3"), "invalid number \"1.2.3\" at 4");
        assert_eq!(error("10px"), "invalid number \"10px\" at 0");
        assert_eq!(error("- 1"), "unexpected character '-' at 0");
        assert_eq!(error(".5"), "unexpected character '.' at 0");
    }

    #[test]
    fn text_and_escapes() {
        assert_eq!(
            kinds(r#"'a' "b" 'it\'s' "say \"hi\"" "a \"quoted\" \\ b" 'x"y' "x'y""#),
            vec![
                text("a"),
                text("b"),
                text("it's"),
                text("say \"hi\""),
                text("a \"quoted\" \\ b"),
                text("x\"y"),
                text("x'y"),
            ]
        );
        // Other escapes are kept as written: `\%` must stay an escaped LIKE wildcard and
        // the other quote character needs no escaping.
        assert_eq!(
            kinds(r#""50\% off" '\"' "\n" "\\\\""#),
            vec![text("50\\% off"), text("\\\""), text("\\n"), text("\\\\")]
        );
        assert_eq!(kinds("\"line\nbreak\""), vec![text("line\nbreak")]);
        assert_eq!(kinds("''"), vec![text("")]);
        assert_eq!(error("'abc"), "unterminated text starting at 0");
        assert_eq!(error(r#"x = "abc\""#), "unterminated text starting at 4");
        assert_eq!(error("'é\\"), "unterminated text starting at 0");
    }

    #[test]
    fn operators() {
        for (src, kind) in [
            ("=", OpKind::Eq),
            ("!=", OpKind::NotEq),
            (">", OpKind::Gt),
            (">=", OpKind::Gte),
            ("<", OpKind::Lt),
            ("<=", OpKind::Lte),
            ("~", OpKind::Like),
            ("!~", OpKind::NotLike),
        ] {
            assert_eq!(kinds(src), vec![TokenKind::Op(Op { kind, any: false })]);
            assert_eq!(
                kinds(&format!("?{src}")),
                vec![TokenKind::Op(Op { kind, any: true })]
            );
        }
        assert_eq!(error("a === b"), "invalid sign operator \"===\"");
        assert_eq!(error("a ! b"), "invalid sign operator \"!\"");
        assert_eq!(error("a ?? b"), "invalid sign operator \"??\"");
        assert_eq!(error("a =! b"), "invalid sign operator \"=!\"");
        assert_eq!(error("a == b"), "invalid sign operator \"==\"");
    }

    #[test]
    fn joins_parens_commas() {
        assert_eq!(
            kinds("&& || ( ) ,"),
            vec![
                TokenKind::And,
                TokenKind::Or,
                TokenKind::LParen,
                TokenKind::RParen,
                TokenKind::Comma
            ]
        );
        assert_eq!(
            error("a=1 & b=2"),
            "invalid join operator \"&\" at 4 (expected \"&&\" or \"||\")"
        );
        assert!(error("a=1 &&& b=2").starts_with("invalid join operator \"&&&\""));
        assert!(error("a=1 |& b=2").starts_with("invalid join operator \"|&\""));
    }

    #[test]
    fn functions() {
        assert_eq!(
            kinds("geoDistance(a, 1) strftime ("),
            vec![
                TokenKind::FunctionStart("geoDistance".into()),
                ident("a"),
                TokenKind::Comma,
                TokenKind::Number {
                    raw: "1".into(),
                    value: 1.0
                },
                TokenKind::RParen,
                ident("strftime"),
                TokenKind::LParen,
            ]
        );
        assert_eq!(error("a.b(1)"), "invalid function name \"a.b\" at 0");
        assert_eq!(error("@now()"), "invalid function name \"@now\" at 0");
    }

    #[test]
    fn whitespace_and_comments() {
        assert_eq!(kinds(" \t\r\n"), vec![]);
        assert_eq!(kinds("// only a comment"), vec![]);
        assert_eq!(
            kinds("a // comment = 'x'\n= 1 // trailing"),
            vec![
                ident("a"),
                TokenKind::Op(Op {
                    kind: OpKind::Eq,
                    any: false
                }),
                TokenKind::Number {
                    raw: "1".into(),
                    value: 1.0
                },
            ]
        );
        assert_eq!(kinds("'// not a comment'"), vec![text("// not a comment")]);
        assert_eq!(error("a / b"), "unexpected character '/' at 2");
        assert_eq!(error("a\u{a0}"), "unexpected character '\\u{a0}' at 1");
        assert_eq!(error("a;"), "unexpected character ';' at 1");
    }

    #[test]
    fn spans_are_byte_offsets() {
        let tokens = tokenize("é = 'ü'").unwrap();
        let spans: Vec<_> = tokens.iter().map(|t| (t.span.start, t.span.end)).collect();
        assert_eq!(spans, vec![(0, 2), (3, 4), (5, 9)]);
    }
}
