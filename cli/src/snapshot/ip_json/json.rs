//! A JSON value that keeps its keys in the order they were added, as
//! `ip -j` prints them (serde_json's map sorts them).

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
            J::Num(n) => out.push_str(&n.to_string()),
            J::Raw(r) => out.push_str(r),
            J::Str(s) => out.push_str(&serde_json::Value::from(s.as_str()).to_string()),
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
                    out.push_str(&serde_json::Value::from(*k).to_string());
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// A list of objects as one line of JSON and a newline, as `ip -j` ends it.
pub(crate) fn document(list: Vec<Obj>) -> Vec<u8> {
    let mut s = String::new();
    J::Arr(list.into_iter().map(J::Obj).collect()).write(&mut s);
    s.push('\n');
    s.into_bytes()
}
