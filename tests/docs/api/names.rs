//! What each name in each module stands for: the items defined there, its
//! child modules, and what its `use`s bring in, followed through re-exports
//! of re-exports to the definition.
//!
//! Names are looked up the way `use` paths are since the 2018 edition: a
//! path starts at `crate`, `self`, `super` or a name in the module, and a
//! first name the module does not have is another crate's (`std::…`,
//! `ipnet::…`). Rust's three namespaces (types, values, macros) are one
//! here: a module holding two things of one name resolves to the first.

use crate::walk::{Module, is_cfg_test, is_doc_hidden, is_doc_inline, use_leaves};

/// An item: `modules[module].items[index]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemId {
    /// Index of the module the item is written in.
    pub module: usize,
    /// Index of the item in that module's items.
    pub index: usize,
}

/// What a path stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A module of this crate (an index into the walked modules).
    Module(usize),
    /// An item of this crate.
    Item(ItemId),
    /// Something of another crate, by its path.
    External(Vec<String>),
}

/// One name a module binds.
pub struct Binding {
    /// The name (`None` for a glob import, which binds many).
    pub name: Option<String>,
    /// Whether it is plain `pub` (not `pub(crate)` and the like).
    pub public: bool,
    /// Whether it carries `#[doc(hidden)]`.
    pub hidden: bool,
    /// Whether it is a `pub use` marked `#[doc(inline)]`, which shows even
    /// a hidden item under its own path.
    pub inline: bool,
    /// What it binds.
    pub kind: Kind,
}

/// What a [`Binding`] binds.
pub enum Kind {
    /// An item written in the module (or, for `#[macro_export]` macros, in
    /// any module: those are bound at the crate root).
    Def(ItemId),
    /// A child module.
    Module(usize),
    /// A `use` path, written in module `from`, resolved when asked.
    Use {
        /// The module the `use` is written in.
        from: usize,
        /// Its path, as written.
        path: Vec<String>,
    },
}

/// Every module's bindings, and path resolution over them.
pub struct Names<'a> {
    /// The walked modules.
    pub modules: &'a [Module],
    bindings: Vec<Vec<Binding>>,
}

/// How deep re-exports of re-exports are followed before giving up (a cycle).
const MAX_DEPTH: usize = 32;

impl<'a> Names<'a> {
    /// The bindings of every module in `modules`, in source order.
    pub fn new(modules: &'a [Module]) -> Self {
        let mut bindings: Vec<Vec<Binding>> = modules.iter().map(|_| Vec::new()).collect();
        for (m, module) in modules.iter().enumerate() {
            for (index, item) in module.items.iter().enumerate() {
                let id = ItemId { module: m, index };
                for (at, binding) in bind(modules, m, id, item) {
                    bindings[at].push(binding);
                }
            }
        }
        Self { modules, bindings }
    }

    /// The names module `m` binds, in source order.
    pub fn bindings(&self, m: usize) -> &[Binding] {
        &self.bindings[m]
    }

    /// The item `id`.
    pub fn item(&self, id: ItemId) -> &'a syn::Item {
        &self.modules[id.module].items[id.index]
    }

    /// What `binding` stands for.
    pub fn target(&self, binding: &Binding) -> Option<Target> {
        self.target_at(binding, 0)
    }

    /// What `path`, written in module `from`, stands for.
    pub fn resolve(&self, from: usize, path: &[String]) -> Option<Target> {
        self.resolve_at(from, path, 0)
    }

    /// [`Names::target`] at re-export depth `depth`.
    fn target_at(&self, binding: &Binding, depth: usize) -> Option<Target> {
        match &binding.kind {
            Kind::Def(id) => Some(Target::Item(*id)),
            Kind::Module(m) => Some(Target::Module(*m)),
            Kind::Use { from, path } => self.resolve_at(*from, path, depth + 1),
        }
    }

    /// [`Names::resolve`] at re-export depth `depth`.
    fn resolve_at(&self, from: usize, path: &[String], depth: usize) -> Option<Target> {
        if depth > MAX_DEPTH {
            return None;
        }
        let (first, rest) = path.split_first()?;
        let mut at = match first.as_str() {
            "crate" | "$crate" => Target::Module(0),
            "self" => Target::Module(from),
            "super" => Target::Module(self.modules[from].parent?),
            name => self
                .lookup(from, name, depth)
                .unwrap_or_else(|| Target::External(vec![name.to_string()])),
        };
        for segment in rest {
            at = match (at, segment.as_str()) {
                (Target::Module(m), "super") => Target::Module(self.modules[m].parent?),
                (Target::Module(m), "self") => Target::Module(m),
                (Target::Module(m), name) => self.lookup(m, name, depth)?,
                (Target::External(mut p), name) => {
                    p.push(name.to_string());
                    Target::External(p)
                }
                // An enum's variant or an associated item: not a name here.
                (Target::Item(_), _) => return None,
            };
        }
        Some(at)
    }

    /// What `name` stands for in module `m`: its own binding of that name,
    /// else what one of its glob imports brings in.
    fn lookup(&self, m: usize, name: &str, depth: usize) -> Option<Target> {
        let named = self.bindings[m]
            .iter()
            .find(|b| b.name.as_deref() == Some(name));
        if let Some(binding) = named {
            return self.target_at(binding, depth);
        }
        self.bindings[m]
            .iter()
            .filter(|b| b.name.is_none())
            .find_map(|glob| match self.target_at(glob, depth)? {
                Target::Module(g) if g != m => self.lookup(g, name, depth + 1),
                _ => None,
            })
    }
}

/// The bindings `item` (item `id` of module `m`) makes, each with the
/// module it is made in.
fn bind(modules: &[Module], m: usize, id: ItemId, item: &syn::Item) -> Vec<(usize, Binding)> {
    let (attrs, vis, name) = match item {
        syn::Item::Const(i) => (&i.attrs, &i.vis, &i.ident),
        syn::Item::Enum(i) => (&i.attrs, &i.vis, &i.ident),
        syn::Item::Fn(i) => (&i.attrs, &i.vis, &i.sig.ident),
        syn::Item::Static(i) => (&i.attrs, &i.vis, &i.ident),
        syn::Item::Struct(i) => (&i.attrs, &i.vis, &i.ident),
        syn::Item::Trait(i) => (&i.attrs, &i.vis, &i.ident),
        syn::Item::TraitAlias(i) => (&i.attrs, &i.vis, &i.ident),
        syn::Item::Type(i) => (&i.attrs, &i.vis, &i.ident),
        syn::Item::Union(i) => (&i.attrs, &i.vis, &i.ident),
        syn::Item::Mod(i) => {
            let child = modules
                .iter()
                .position(|c| c.parent == Some(m) && c.path.last() == Some(&i.ident.to_string()));
            let Some(child) = child else {
                return Vec::new();
            };
            let binding = Binding {
                name: Some(i.ident.to_string()),
                public: modules[child].public,
                hidden: modules[child].hidden,
                inline: false,
                kind: Kind::Module(child),
            };
            return vec![(m, binding)];
        }
        syn::Item::Macro(i) => {
            let exported = i.attrs.iter().any(|a| a.path().is_ident("macro_export"));
            let Some(name) = i.ident.as_ref().filter(|_| exported) else {
                return Vec::new();
            };
            let binding = Binding {
                name: Some(name.to_string()),
                public: true,
                hidden: is_doc_hidden(&i.attrs),
                inline: false,
                kind: Kind::Def(id),
            };
            return vec![(0, binding)];
        }
        syn::Item::Use(u) => {
            if is_cfg_test(&u.attrs) {
                return Vec::new();
            }
            return use_leaves(&u.tree)
                .into_iter()
                .map(|leaf| {
                    let binding = Binding {
                        name: leaf.name,
                        public: matches!(u.vis, syn::Visibility::Public(_)),
                        hidden: is_doc_hidden(&u.attrs),
                        inline: is_doc_inline(&u.attrs),
                        kind: Kind::Use {
                            from: m,
                            path: leaf.path,
                        },
                    };
                    (m, binding)
                })
                .collect();
        }
        _ => return Vec::new(),
    };
    if is_cfg_test(attrs) {
        return Vec::new();
    }
    let binding = Binding {
        name: Some(name.to_string()),
        public: matches!(vis, syn::Visibility::Public(_)),
        hidden: is_doc_hidden(attrs),
        inline: false,
        kind: Kind::Def(id),
    };
    vec![(m, binding)]
}
