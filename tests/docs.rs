//! The docs stay honest (README.md, CONTRIBUTING.md, ARCHITECTURE.md and the book in docs/):
//! every relative link resolves, to a file and, with `#anchor`, to one of its headings; every
//! YAML example parses, and one that is a spec (a mapping with `providers`) compiles unless its
//! fence says `yaml fragment`; every `wh ...` command line (in `sh`, `bash`, `shell` or
//! `console` blocks, and inline code starting `wh `) names a real subcommand and real options;
//! every page of docs/ is in the book's SUMMARY.md. Each check is also run on a page made
//! wrong, and fails there.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::commands::Commands;
use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

/// The Markdown files the test reads.
fn pages() -> Vec<PathBuf> {
    let root = common::repo();
    let mut out: Vec<PathBuf> = ["README.md", "CONTRIBUTING.md", "ARCHITECTURE.md"]
        .iter()
        .map(|f| root.join(f))
        .collect();
    let mut book: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    book.sort();
    out.extend(book);
    out
}

/// What one page holds, as the checks need it.
#[derive(Default)]
struct Page {
    /// Link destinations.
    links: Vec<String>,
    /// Heading anchors (GitHub's rule, duplicates numbered).
    anchors: BTreeSet<String>,
    /// Fenced code blocks: (info string, text).
    blocks: Vec<(String, String)>,
    /// Inline code spans.
    inline: Vec<String>,
}

/// GitHub's heading anchor: lowercase; letters, digits, spaces, `-` and `_` kept; spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn read(text: &str) -> Page {
    let mut page = Page::default();
    let mut heading: Option<String> = None;
    let mut block: Option<(String, String)> = None;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for event in Parser::new_ext(text, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::End(TagEnd::Heading(_)) => {
                let base = slug(&heading.take().unwrap_or_default());
                let n = seen.entry(base.clone()).or_default();
                page.anchors
                    .insert(if *n == 0 { base } else { format!("{base}-{n}") });
                *n += 1;
            }
            Event::Start(Tag::CodeBlock(kind)) => {
                let info = match kind {
                    CodeBlockKind::Fenced(info) => info.to_string(),
                    CodeBlockKind::Indented => String::new(),
                };
                block = Some((info, String::new()));
            }
            Event::End(TagEnd::CodeBlock) => page.blocks.extend(block.take()),
            Event::Text(t) => {
                if let Some((_, b)) = block.as_mut() {
                    b.push_str(&t);
                } else if let Some(h) = heading.as_mut() {
                    h.push_str(&t);
                }
            }
            Event::Code(c) => {
                if let Some(h) = heading.as_mut() {
                    h.push_str(&c);
                }
                page.inline.push(c.to_string());
            }
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                page.links.push(dest_url.to_string());
            }
            _ => {}
        }
    }
    page
}

/// Links of `page` (at `path`) that do not resolve.
fn broken_links(path: &Path, page: &Page) -> Vec<String> {
    let dir = path.parent().unwrap();
    let mut out = Vec::new();
    for link in &page.links {
        if link.contains("://") || link.starts_with("mailto:") {
            continue;
        }
        let (file, anchor) = link.split_once('#').unwrap_or((link, ""));
        let anchors = if file.is_empty() {
            page.anchors.clone()
        } else {
            let target = dir.join(file);
            if !target.exists() {
                out.push(format!(
                    "{}: link {link}: no file {}",
                    path.display(),
                    target.display()
                ));
                continue;
            }
            if anchor.is_empty() {
                continue;
            }
            read(&std::fs::read_to_string(&target).unwrap()).anchors
        };
        if !anchor.is_empty() && !anchors.contains(anchor) {
            out.push(format!(
                "{}: link {link}: no heading #{anchor}",
                path.display()
            ));
        }
    }
    out
}

/// Problems of the YAML blocks of `page`: YAML that does not parse; a spec that does not compile
/// (compiled into `scratch`).
fn bad_yaml(path: &Path, page: &Page, scratch: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (info, text)) in page.blocks.iter().enumerate() {
        let mut words = info.split_whitespace();
        if words.next() != Some("yaml") {
            continue;
        }
        let fragment = words.any(|w| w == "fragment");
        let value: serde_json::Value = match serde_saphyr::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                out.push(format!(
                    "{}: YAML block {}: does not parse: {e}",
                    path.display(),
                    i + 1
                ));
                continue;
            }
        };
        if fragment || value.get("providers").is_none() {
            continue;
        }
        let spec = scratch.join(format!("docspec{i}.yaml"));
        std::fs::write(&spec, text).unwrap();
        let spec = spec.to_string_lossy().into_owned();
        let to = scratch.join("out").to_string_lossy().into_owned();
        let compiled = common::run(&["compile", &spec, "--out-dir", &to, "--quiet"]);
        if !compiled.status.success() {
            out.push(format!(
                "{}: YAML block {} is a spec that does not compile (mark it `yaml fragment` if it is part of one): {}",
                path.display(),
                i + 1,
                String::from_utf8_lossy(&compiled.stderr)
            ));
        }
    }
    out
}

/// The `wh ...` command lines of `page`: lines of shell blocks (continuations joined, `$ `
/// prompts and trailing comments dropped) and inline code starting `wh `.
fn command_lines(page: &Page) -> Vec<String> {
    let mut out = Vec::new();
    for (info, text) in &page.blocks {
        let lang = info.split_whitespace().next().unwrap_or_default();
        if !matches!(lang, "sh" | "bash" | "shell" | "console") {
            continue;
        }
        for line in text.replace("\\\n", " ").lines() {
            let line = line.trim().trim_start_matches("$ ");
            let line = line.split(" #").next().unwrap_or_default().trim();
            if line.starts_with("wh ") {
                out.push(line.to_owned());
            }
        }
    }
    out.extend(
        page.inline
            .iter()
            .filter(|c| {
                c.starts_with("wh ")
                    && c[3..].starts_with(|c: char| c.is_ascii_lowercase() || c == '-')
            })
            .cloned(),
    );
    out
}

/// Problems of the command lines of `page`.
fn bad_commands(path: &Path, page: &Page, commands: &mut Commands) -> Vec<String> {
    command_lines(page)
        .iter()
        .filter_map(|l| commands.check(l).err())
        .map(|e| format!("{}: {e}", path.display()))
        .collect()
}

#[test]
fn the_docs_links_specs_and_commands_are_real() {
    let scratch = tempfile::tempdir().unwrap();
    let mut commands = Commands::default();
    let mut problems = Vec::new();
    let mut checked = (0, 0, 0);
    for path in pages() {
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let page = read(&text);
        checked.0 += page.links.len();
        checked.1 += page
            .blocks
            .iter()
            .filter(|(i, _)| i.starts_with("yaml"))
            .count();
        checked.2 += command_lines(&page).len();
        problems.extend(broken_links(&path, &page));
        problems.extend(bad_yaml(&path, &page, scratch.path()));
        problems.extend(bad_commands(&path, &page, &mut commands));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The docs do hold what is checked (a parser that found nothing would pass everything).
    assert!(
        checked.0 > 100 && checked.1 >= 2 && checked.2 > 200,
        "{checked:?}"
    );
}

#[test]
fn every_page_of_the_book_is_in_its_summary() {
    let docs = common::repo().join("docs");
    let summary = read(&std::fs::read_to_string(docs.join("SUMMARY.md")).unwrap());
    let listed: BTreeSet<&str> = summary.links.iter().map(String::as_str).collect();
    for path in pages().iter().filter(|p| p.starts_with(&docs)) {
        let name = path.file_name().unwrap().to_str().unwrap();
        if name != "SUMMARY.md" {
            assert!(
                listed.contains(name),
                "docs/SUMMARY.md does not list {name}"
            );
        }
    }
}

#[test]
fn a_broken_link_or_a_missing_heading_is_found() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("other.md"),
        "# Deploying for real: `wh deploy`\n",
    )
    .unwrap();
    let path = dir.path().join("page.md");
    let page = read(
        "# Top\n[ok](other.md#deploying-for-real-wh-deploy) [self](#top) [web](https://example.com)\n\
         [gone](missing.md) [no heading](other.md#deploying) [no self](#bottom)\n",
    );
    let broken = broken_links(&path, &page);
    assert_eq!(broken.len(), 3, "{broken:?}");
    assert!(broken[0].contains("link missing.md: no file"), "{broken:?}");
    assert!(
        broken[1].contains("link other.md#deploying: no heading #deploying"),
        "{broken:?}"
    );
    assert!(
        broken[2].contains("link #bottom: no heading #bottom"),
        "{broken:?}"
    );
}

#[test]
fn a_spec_that_does_not_compile_is_found_unless_it_is_a_fragment() {
    let scratch = tempfile::tempdir().unwrap();
    let path = Path::new("page.md");
    let broken = common::BASE.replace("reserved: 10", "reserved: 0");
    let text = format!(
        "```yaml\n{}```\n\n```yaml\n{broken}```\n\n```yaml fragment\nproviders:\n  stripe: {{}}\n```\n\n```yaml\nkey: [unclosed\n```\n",
        common::BASE
    );
    let problems = bad_yaml(path, &read(&text), scratch.path());
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].contains("YAML block 2 is a spec that does not compile"),
        "{problems:?}"
    );
    assert!(
        problems[0].contains("concurrency.receiver.reserved"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("YAML block 4: does not parse"),
        "{problems:?}"
    );
}

#[test]
fn a_command_with_an_unknown_subcommand_or_option_is_found() {
    let mut commands = Commands::default();
    let text = "```sh\n$ wh deploy specs/prod.yaml --approve-broadening   # fine\nwh deploy specs/prod.yaml \\\n  --approve-everything\n\
                wh launch specs/prod.yaml\nwh loadtest merge runs/ --report-dir out\n```\n\n\
                `wh dev SPEC [--port 8787] [--waf-mode exact\\|aws]` and `wh diff --markdwn plan.md`\n";
    let page = read(text);
    let lines = command_lines(&page);
    assert_eq!(lines.len(), 6, "{lines:?}");
    let problems = bad_commands(Path::new("page.md"), &page, &mut commands);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(
        problems[0].contains("wh deploy has no --approve-everything"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("wh has no subcommand `launch`"),
        "{problems:?}"
    );
    assert!(
        problems[2].contains("wh diff has no --markdwn"),
        "{problems:?}"
    );
}
