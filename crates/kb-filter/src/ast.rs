//! The typed syntax tree of the filter language (PocketBase's `fexpr`).
//!
//! The tree is purely syntactic: identifiers are kept as written (`author.name:lower`,
//! `@request.auth.id`, `@collection.posts:p.title`) and resolved against a schema later.

use std::fmt;

/// Byte range in the source string, for error messages and editor highlighting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// A boolean expression: comparisons joined with `&&` / `||`.
/// `&&` binds tighter than `||`, as in SQL, which is what PocketBase relies on.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare(Comparison),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub left: Operand,
    pub op: Op,
    pub right: Operand,
    pub span: Span,
}

/// A comparison operator; `any` is the `?`-prefixed variant (`?=`, `?~`, ...), which asks
/// that at least one value of a multi-valued operand match instead of all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op {
    pub kind: OpKind,
    pub any: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Eq,
    NotEq,
    Gt,
    Gte,
    Lt,
    Lte,
    Like,
    NotLike,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A field path or macro exactly as written, e.g. `author.name:lower`, `@now`, `null`.
    Identifier { name: String, span: Span },
    /// A number literal, kept as written (`10`, `-14`, `10.50`) plus its value.
    Number { raw: String, value: f64, span: Span },
    /// A quoted text literal with escapes already resolved.
    Text { value: String, span: Span },
    /// A function call such as `geoDistance(a, b, c, d)` or `strftime('%Y', created)`.
    Function {
        name: String,
        args: Vec<Operand>,
        span: Span,
    },
}

impl Operand {
    pub fn span(&self) -> Span {
        match self {
            Operand::Identifier { span, .. }
            | Operand::Number { span, .. }
            | Operand::Text { span, .. }
            | Operand::Function { span, .. } => *span,
        }
    }
}

impl Span {
    pub const fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
}

impl OpKind {
    /// The operator as written without the `?` prefix.
    pub const fn as_str(self) -> &'static str {
        match self {
            OpKind::Eq => "=",
            OpKind::NotEq => "!=",
            OpKind::Gt => ">",
            OpKind::Gte => ">=",
            OpKind::Lt => "<",
            OpKind::Lte => "<=",
            OpKind::Like => "~",
            OpKind::NotLike => "!~",
        }
    }

    pub const ALL: [OpKind; 8] = [
        OpKind::Eq,
        OpKind::NotEq,
        OpKind::Gt,
        OpKind::Gte,
        OpKind::Lt,
        OpKind::Lte,
        OpKind::Like,
        OpKind::NotLike,
    ];
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.any {
            f.write_str("?")?;
        }
        f.write_str(self.kind.as_str())
    }
}

/// Prints the operand back in filter syntax. Text is always double-quoted with `"` and `\`
/// escaped, so any value survives a round trip through [`crate::parse_filter`].
impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Identifier { name, .. } => f.write_str(name),
            Operand::Number { raw, .. } => f.write_str(raw),
            Operand::Text { value, .. } => {
                f.write_str("\"")?;
                for c in value.chars() {
                    if c == '"' || c == '\\' {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("\"")
            }
            Operand::Function { name, args, .. } => {
                write!(f, "{name}(")?;
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{arg}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.left, self.op, self.right)
    }
}

/// Prints the expression back in filter syntax with only the parentheses needed to keep
/// its shape: the parser builds left-leaning chains, so a right operand of the same
/// connective, or an `||` under an `&&`, gets parentheses. Parsing the output of a parsed
/// filter yields the same tree (spans aside).
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn grouped(f: &mut fmt::Formatter<'_>, e: &Expr, parens: bool) -> fmt::Result {
            if parens {
                write!(f, "({e})")
            } else {
                write!(f, "{e}")
            }
        }
        match self {
            Expr::Compare(c) => write!(f, "{c}"),
            Expr::Or(l, r) => {
                grouped(f, l, false)?;
                f.write_str(" || ")?;
                grouped(f, r, matches!(**r, Expr::Or(..)))
            }
            Expr::And(l, r) => {
                grouped(f, l, matches!(**l, Expr::Or(..)))?;
                f.write_str(" && ")?;
                grouped(f, r, !matches!(**r, Expr::Compare(_)))
            }
        }
    }
}
