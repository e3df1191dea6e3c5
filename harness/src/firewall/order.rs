//! The order in which an `iptables-nft-restore` input's tables are fed to
//! the tool, chosen to spare it RCU grace periods.
//!
//! The tool commits one transaction per table, and checks each extension
//! (`-m conntrack`, `-p tcp`, `-j MASQUERADE`, …) the first time a rule uses
//! it, with an nfnetlink socket of its own that it closes at once. The
//! first such close after a commit waits for an RCU grace period (5–20 ms
//! here; nf_tables frees the committed transaction's objects first), so
//! every table that brings an extension the earlier tables did not use
//! costs one. Feeding first the table that uses the most extensions leaves
//! the later ones little or nothing new to check: Docker's IPv4 ruleset
//! (raw, filter, nat) goes from two waits to one, its ip6tables skeleton
//! (filter, nat) from one to none. The tables are independent, so the
//! result is the same ruleset, read back the same. Docker's rendered
//! rulesets and a real host's rules as found (`netrig import`'s `ruleset`
//! and `ruleset6`) are fed this way; the line map ([`Reordered`]) turns a
//! tool's "line N" back into the line of the user's file.

use std::collections::BTreeSet;

use crate::backend::Backend;
use crate::error::Error;

/// An input reordered by [`extensions_first`]: its text, and where each of
/// its lines came from (so a tool's "line N" names the user's line).
pub(crate) struct Reordered {
    /// The tables in their new order.
    pub(crate) text: String,
    /// For each line of `text` (0-based), its 1-based line in the input.
    from: Vec<usize>,
}

impl Reordered {
    /// The input's line number of `text`'s 1-based line `n`.
    pub(crate) fn original_line(&self, n: usize) -> usize {
        n.checked_sub(1)
            .and_then(|i| self.from.get(i))
            .copied()
            .unwrap_or(n)
    }

    /// `e`, from a load of `text`, with the refused line numbered as in the input.
    pub(crate) fn unmap(&self, e: Error) -> Error {
        match e {
            Error::Rules(mut r) => {
                r.line = r.line.map(|n| self.original_line(n));
                Error::Rules(r)
            }
            e => e,
        }
    }
}

/// What `backend`'s restore tool is fed for `text`: [`extensions_first`]
/// with iptables-nft (where the order spares grace periods), `text` as it
/// is otherwise.
pub(crate) fn fed_to(backend: Backend, text: &str) -> Reordered {
    if backend == Backend::IptablesNft {
        extensions_first(text)
    } else {
        Reordered {
            text: text.to_string(),
            from: (1..=text.lines().count()).collect(),
        }
    }
}

/// `text` with the table that uses the most distinct extensions first and
/// the others in their order; `text` as it is when it is not a plain
/// sequence of `*table … COMMIT` blocks (comments and blank lines aside).
pub(crate) fn extensions_first(text: &str) -> Reordered {
    let as_is = || Reordered {
        text: text.to_string(),
        from: (1..=text.lines().count()).collect(),
    };
    let Some(blocks) = tables(text) else {
        return as_is();
    };
    let Some(first) = (0..blocks.len()).max_by_key(|&i| {
        // The earliest of equals: the input's own order where nothing is gained.
        (extensions(&blocks[i].text).len(), std::cmp::Reverse(i))
    }) else {
        return as_is();
    };
    let mut out = Reordered {
        text: String::with_capacity(text.len()),
        from: Vec::new(),
    };
    let order = std::iter::once(first).chain((0..blocks.len()).filter(|&i| i != first));
    for b in order.map(|i| &blocks[i]) {
        out.text.push_str(&b.text);
        out.from
            .extend(b.first_line..b.first_line + b.text.lines().count());
    }
    out
}

/// One `*table … COMMIT` block: its lines, and the input line it starts on.
struct Block {
    text: String,
    first_line: usize,
}

/// The `*table … COMMIT` blocks of `text`, each with its lines (comments
/// and blank lines go with the block they precede or close); `None` when a
/// line of a rule or chain stands outside any block.
fn tables(text: &str) -> Option<Vec<Block>> {
    let mut blocks = Vec::new();
    let mut current = String::new();
    let mut first_line = 1;
    let mut open = false;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let t = line.trim();
        if t.starts_with('*') {
            if open {
                return None;
            }
            open = true;
        } else if !(open || t.is_empty() || t.starts_with('#')) {
            return None;
        }
        current.push_str(line);
        if t == "COMMIT" {
            if !current.ends_with('\n') {
                current.push('\n');
            }
            blocks.push(Block {
                text: std::mem::take(&mut current),
                first_line,
            });
            first_line = n + 2;
            open = false;
        }
    }
    if open {
        return None;
    }
    if let Some(last) = blocks.last_mut() {
        // Trailing comments stay at the end of the whole input.
        last.text.push_str(&current);
    }
    Some(blocks)
}

/// The extensions a table's rules load: `-p` protocols, `-m` matches and
/// `-j`/`-g` targets other than the table's own chains and the built-in
/// verdicts.
fn extensions(block: &str) -> BTreeSet<&str> {
    let chains: BTreeSet<&str> = block
        .lines()
        .filter_map(|l| l.strip_prefix(':')?.split_whitespace().next())
        .collect();
    let mut out = BTreeSet::new();
    for line in block.lines().filter(|l| l.starts_with("-A ")) {
        let mut words = line.split_whitespace();
        while let Some(w) = words.next() {
            let Some(name) = (match w {
                "-p" | "--protocol" | "-m" | "--match" | "-j" | "--jump" | "-g" | "--goto" => {
                    words.next()
                }
                _ => None,
            }) else {
                continue;
            };
            let builtin = matches!(name, "ACCEPT" | "DROP" | "RETURN" | "all");
            if !builtin && !chains.contains(name) {
                out.insert(name);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER_V4: &str = "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP\nCOMMIT\n\
        *filter\n:FORWARD DROP [0:0]\n:DOCKER - [0:0]\n-A FORWARD -j DOCKER\n-A DOCKER -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\nCOMMIT\n\
        *nat\n:PREROUTING ACCEPT [0:0]\n:DOCKER - [0:0]\n-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n\
        -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80\nCOMMIT\n";

    #[test]
    fn the_table_with_most_extensions_goes_first() {
        let out = extensions_first(DOCKER_V4);
        let order: Vec<&str> = out.text.lines().filter(|l| l.starts_with('*')).collect();
        assert_eq!(order, ["*nat", "*raw", "*filter"]);
        // The same lines, only moved.
        let mut a: Vec<&str> = out.text.lines().collect();
        let mut b: Vec<&str> = DOCKER_V4.lines().collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }

    #[test]
    fn extensions_are_matches_protocols_and_foreign_targets() {
        let blocks = tables(DOCKER_V4).unwrap();
        assert!(extensions(&blocks[0].text).is_empty(), "DROP is built in");
        assert_eq!(
            extensions(&blocks[1].text).into_iter().collect::<Vec<_>>(),
            ["conntrack"],
            "DOCKER is the table's own chain"
        );
        assert_eq!(
            extensions(&blocks[2].text).into_iter().collect::<Vec<_>>(),
            ["DNAT", "addrtype", "tcp"]
        );
    }

    #[test]
    fn what_is_not_plain_blocks_is_left_as_it_is() {
        for text in [
            "-A INPUT -j DROP\n*filter\nCOMMIT\n",
            "*filter\n-A INPUT -j DROP\n",
            "*filter\n*nat\nCOMMIT\n",
            "",
        ] {
            assert_eq!(extensions_first(text).text, text);
        }
        let commented = "# made by hand\n*filter\n-A INPUT -j DROP\nCOMMIT\n# end\n";
        assert_eq!(extensions_first(commented).text, commented);
    }

    /// Every line of the reordered text maps back to the same line of the
    /// input, so a tool's "line N" names the line the user wrote.
    #[test]
    fn each_line_maps_back_to_the_input() {
        let input = format!("# saved by hand\n{DOCKER_V4}# end\n");
        let out = extensions_first(&input);
        assert!(out.text.starts_with("*nat\n"), "{}", out.text);
        let lines: Vec<&str> = input.lines().collect();
        for (i, line) in out.text.lines().enumerate() {
            assert_eq!(lines[out.original_line(i + 1) - 1], line, "line {}", i + 1);
        }
        assert_eq!(out.original_line(1), 12, "*nat is the input's line 12");
        let as_is = extensions_first("-A INPUT -j DROP\n");
        assert_eq!(as_is.original_line(1), 1);
    }
}
