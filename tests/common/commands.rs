//! Checks `wh ...` command lines written in docs and examples against the real binary: the
//! subcommand (and a nested one, `wh loadtest merge`) exists and every `--option` on the line is
//! one its `--help` lists. Shared by the workflow examples' test (`tests/cli.rs`) and the docs
//! test (`tests/docs.rs`).

use std::collections::{BTreeSet, HashMap};

/// `--help` answers, read once per (sub)command.
#[derive(Default)]
pub struct Commands {
    help: HashMap<Vec<String>, Option<BTreeSet<String>>>,
}

/// The `--options` a help text lists.
fn options(help: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in help.match_indices("--") {
        let name: String = help[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if !name.is_empty() {
            out.insert(format!("--{name}"));
        }
    }
    out
}

/// A word of a command line without the brackets, pipes and punctuation usage lines wrap it in
/// (`[--port`, `8787]`, `exact\|aws]`), and without an `=value`.
fn bare(word: &str) -> &str {
    let word = word.trim_start_matches(['[', '(', '`', '"', '\'']);
    let word = word
        .split(['=', '[', ']', '(', ')', '|', '\\', ',', '`', '"', '\''])
        .next();
    word.unwrap_or_default()
}

impl Commands {
    /// The options of `wh <path> --help`; `None` when there is no such command.
    fn help(&mut self, path: &[&str]) -> Option<&BTreeSet<String>> {
        let key: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
        self.help
            .entry(key)
            .or_insert_with(|| {
                let mut args: Vec<&str> = path.to_vec();
                args.push("--help");
                let out = super::run(&args);
                out.status
                    .success()
                    .then(|| options(&String::from_utf8_lossy(&out.stdout)))
            })
            .as_ref()
    }

    /// Checks one line starting `wh `; the subcommand it names (`loadtest merge` for a nested
    /// one; empty for the top level).
    pub fn check(&mut self, line: &str) -> Result<String, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() != Some(&"wh") {
            return Err(format!("`{line}` is not a wh command line"));
        }
        let mut path: Vec<&str> = Vec::new();
        if let Some(sub) = words.get(1).map(|w| bare(w))
            && !sub.starts_with('-')
        {
            if !sub.chars().all(|c| c.is_ascii_lowercase()) || self.help(&[sub]).is_none() {
                return Err(format!("`{line}`: wh has no subcommand `{sub}`"));
            }
            path.push(sub);
            // A nested subcommand (`wh loadtest merge`) has options of its own.
            if let Some(nested) = words.get(2).map(|w| bare(w))
                && !nested.is_empty()
                && nested.chars().all(|c| c.is_ascii_lowercase())
                && self.help(&[sub, nested]).is_some()
            {
                path.push(nested);
            }
        }
        let known = self.help(&path).cloned().unwrap_or_default();
        for word in &words[1..] {
            let flag = bare(word);
            if flag.starts_with("--") && flag.len() > 2 && !known.contains(flag) {
                return Err(format!("`{line}`: wh {} has no {flag}", path.join(" ")));
            }
        }
        Ok(path.join(" "))
    }
}
