//! The generator on a small crate written for it, line by line: what it
//! lists, under which path, and what it leaves out.

use crate::walk::walk;

/// The sample crate: file name and text.
const FILES: &[(&str, &str)] = &[
    (
        "lib.rs",
        r#"
mod inner;
pub mod open;
#[doc(hidden)]
pub mod secret;
pub use inner::{Thing, helper as renamed};
pub use open::Again;

#[doc(hidden)]
#[macro_export]
macro_rules! __sample_main { () => {} }

#[cfg(test)]
mod tests { pub fn not_listed() {} }
"#,
    ),
    (
        "inner/mod.rs",
        r#"
mod deep;
pub use deep::Thing;
pub fn helper(mut x: u8) -> u8 { x += 1; x }
pub struct Unexported;
"#,
    ),
    (
        "inner/deep.rs",
        r#"
/// Re-exported twice: inner, then the root.
pub struct Thing<'a> { pub name: &'a str, secret: u8 }
impl<'a> Thing<'a> {
    pub fn name(&self) -> &'a str { self.name }
    pub(crate) fn crate_only(&self) {}
    fn private(&self) {}
    #[doc(hidden)]
    pub fn hidden(&self) {}
}
"#,
    ),
    (
        "open.rs",
        r#"
use crate::Thing;
pub use super::inner::Thing as Again;
pub use crate::__sample_main as main;
#[doc(inline)]
pub use crate::__sample_main as shown;
pub const LIMIT: usize = 3;
pub trait Speak { fn speak(&self) -> String; }
impl Speak for Thing<'_> { fn speak(&self) -> String { String::new() } }
impl Speak for super::inner::Unexported { fn speak(&self) -> String { String::new() } }
impl Thing<'_> { pub fn from_open(self) {} }
#[non_exhaustive]
pub enum Mode { A, B(u8), #[doc(hidden)] C }
pub struct Pair(pub u8, u8);
"#,
    ),
    ("secret.rs", "pub fn hidden_module_fn() {}\n"),
];

/// What the generator makes of [`FILES`].
const EXPECTED: &str = "\
pub struct sample::Thing<'a> { pub name: &'a str, .. }
pub fn sample::Thing::from_open(self)
pub fn sample::Thing::name(&self) -> &'a str
pub mod sample::open
pub const sample::open::LIMIT: usize
pub enum sample::open::Mode { A, B(u8), .. }
pub struct sample::open::Pair(pub u8, _)
pub trait sample::open::Speak
impl sample::open::Speak for Thing<'_>
pub fn sample::open::Speak::speak(&self) -> String
macro sample::open::shown!
pub fn sample::renamed(x: u8) -> u8
";

/// The generator lists re-exports of re-exports once under the shortest
/// path, finds impls in other modules, folds fields and variants onto the
/// type's line, and leaves out what is private, hidden or test code.
pub fn lists_the_sample_crate() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in FILES {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let api = super::generate_for(&walk(&dir.path().join("lib.rs")), "sample");
    assert!(api.problems.is_empty(), "{:?}", api.problems);
    let lines: String = api
        .text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        lines,
        EXPECTED,
        "(- expected, + generated)\n{}",
        crate::diff::unified(EXPECTED, &lines)
    );
    assert_eq!(api.count, EXPECTED.lines().count());
}
