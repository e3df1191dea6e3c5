//! A JSON value that keeps its keys in the order they were added, as
//! `ip -j` prints them (serde_json's map sorts them).

use std::fmt::Write as _;

/// One JSON value.
#[derive(Debug, Clone)]
pub(crate) enum J {
    Null,
    Bool(bool),
    Num(i64),
    /// A number as `ip` formats it (`0.00`), written as is.
    Raw(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Obj),
}

/// An object: its members in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Obj(pub(crate) Vec<(&'static str, J)>);

impl Obj {
    pub(crate) fn put(&mut self, key: &'static str, v: J) {
        self.0.push((key, v));
    }

    pub(crate) fn str(&mut self, key: &'static str, v: impl Into<String>) {
        self.put(key, J::Str(v.into()));
    }

    pub(crate) fn num(&mut self, key: &'static str, v: impl Into<i64>) {
        self.put(key, J::Num(v.into()));
    }
}

impl J {
    /// Writes the value as `ip -j` does: no spaces.
    pub(crate) fn write(&self, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Num(n) => {
                let _ = write!(out, "{n}");
            }
            J::Raw(r) => out.push_str(r),
            J::Str(s) => quoted(s, out),
            J::Arr(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            J::Obj(o) => {
                out.push('{');
                for (i, (k, v)) in o.0.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    quoted(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// `s` as a JSON string, escaped as serde_json escapes it (`\"`, `\\`,
/// `\n`-style short forms, other control characters as `\u00XX`),
/// written straight into `out`.
fn quoted(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A list of objects as one line of JSON and a newline, as `ip -j` ends it.
pub(crate) fn document(list: Vec<Obj>) -> Vec<u8> {
    let mut s = String::new();
    J::Arr(list.into_iter().map(J::Obj).collect()).write(&mut s);
    s.push('\n');
    s.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strings come out as serde_json writes them, control characters,
    /// quotes, backslashes and non-ASCII included.
    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        for s in [
            "eth0",
            "a\"b\\c",
            "tab\there\nnl\r",
            "\u{1}\u{8}\u{c}\u{1f}",
            "wg-ü€",
            "",
        ] {
            let mut out = String::new();
            J::Str(s.into()).write(&mut out);
            assert_eq!(out, serde_json::to_string(s).unwrap(), "{s:?}");
        }
        let mut o = Obj::default();
        o.num("ifindex", -3);
        o.str("ifname", "x\"y");
        let mut out = String::new();
        J::Obj(o).write(&mut out);
        assert_eq!(out, r#"{"ifindex":-3,"ifname":"x\"y"}"#);
    }
}
