//! A JSON value that keeps its keys in the order they were added, as
//! `ip -j` prints them (serde_json's map sorts them).

use std::io::Write as _;

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
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        match self {
            J::Null => out.extend_from_slice(b"null"),
            J::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            J::Num(n) => {
                let _ = write!(out, "{n}");
            }
            J::Raw(r) => out.extend_from_slice(r.as_bytes()),
            J::Str(s) => quoted(s, out),
            J::Arr(a) => {
                out.push(b'[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    v.write(out);
                }
                out.push(b']');
            }
            J::Obj(o) => {
                out.push(b'{');
                for (i, (k, v)) in o.0.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    quoted(k, out);
                    out.push(b':');
                    v.write(out);
                }
                out.push(b'}');
            }
        }
    }
}

/// `s` as a JSON string, escaped by serde_json, written straight into `out`.
fn quoted(s: &str, out: &mut Vec<u8>) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// A list of objects as one line of JSON and a newline, as `ip -j` ends it.
pub(crate) fn document(list: Vec<Obj>) -> Vec<u8> {
    let mut out = Vec::new();
    J::Arr(list.into_iter().map(J::Obj).collect()).write(&mut out);
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strings come out escaped as `ip -j` (and serde_json) write them:
    /// quotes, backslashes, short forms, other control characters as
    /// `\u00XX`, non-ASCII as it is.
    #[test]
    fn strings_are_escaped_as_ip_writes_them() {
        for (s, want) in [
            ("eth0", r#""eth0""#),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("tab\there\nnl\r", r#""tab\there\nnl\r""#),
            ("\u{1}\u{1f}", r#""\u0001\u001f""#),
            ("wg-ü€", r#""wg-ü€""#),
            ("", r#""""#),
        ] {
            let mut out = Vec::new();
            J::Str(s.into()).write(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), want, "{s:?}");
        }
        let mut o = Obj::default();
        o.num("ifindex", -3);
        o.str("ifname", "x\"y");
        let mut out = Vec::new();
        J::Obj(o).write(&mut out);
        assert_eq!(out, br#"{"ifindex":-3,"ifname":"x\"y"}"#);
    }
}
