//! GitHub: list a hook's deliveries, redeliver those the stack does not have.
//!
//! The REST endpoints ("REST API endpoints for repository webhooks", organisation webhooks and
//! GitHub App webhooks, <https://docs.github.com/en/rest/repos/webhooks>,
//! <https://docs.github.com/en/rest/orgs/webhooks>, <https://docs.github.com/en/rest/apps/webhooks>):
//! `GET <hook>/deliveries?per_page=100` (newest first; the next page's URL in the `Link`
//! header, `rel="next"`, by cursor) and `POST <hook>/deliveries/<id>/attempts` (answered 202).
//! A delivery's `guid` is the `X-GitHub-Delivery` header it was sent with, the stack's event
//! id; a redelivery keeps the guid. "You can only redeliver deliveries that were delivered in
//! the past 3 days" (<https://docs.github.com/en/webhooks/testing-and-troubleshooting-webhooks/redelivering-webhooks>).

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Item, ReconcileError, Stack, Summary, Verdict, error_message, rfc3339};

/// The environment variable the token is read from.
pub const TOKEN_VAR: &str = "GITHUB_TOKEN";
/// The environment variable that may point the client at a loopback fake (tests, emulators).
pub const API_URL_VAR: &str = "WH_GITHUB_API_URL";
/// GitHub's API.
pub const API_URL: &str = "https://api.github.com";
/// How far back GitHub redelivers.
pub const REDELIVERY_WINDOW: time::Duration = time::Duration::days(3);

/// Which hook's deliveries: `repos/<owner>/<repo>/hooks/<id>`, `orgs/<org>/hooks/<id>`, or
/// `app` (a GitHub App's hook; its token is the App's JWT).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hook {
    /// A repository webhook.
    Repo {
        /// `owner/repo`.
        repo: String,
        /// The hook's id.
        id: u64,
    },
    /// An organisation webhook.
    Org {
        /// The organisation.
        org: String,
        /// The hook's id.
        id: u64,
    },
    /// A GitHub App's webhook.
    App,
}

impl FromStr for Hook {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let usage = || {
            format!(
                "`{s}` is not a GitHub hook; write repos/<owner>/<repo>/hooks/<id>, orgs/<org>/hooks/<id>, or app"
            )
        };
        let parts: Vec<&str> = s.trim_matches('/').split('/').collect();
        let id = |p: &str| p.parse::<u64>().map_err(|_| usage());
        let name = |p: &str| {
            // Letters, digits, `-`, `_` and `.`, but not `.` or `..`: the name is a path segment.
            (!p.is_empty()
                && p.chars().any(|c| c != '.')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .then(|| p.to_owned())
            .ok_or_else(usage)
        };
        match parts.as_slice() {
            ["app"] => Ok(Hook::App),
            ["repos", owner, repo, "hooks", n] => Ok(Hook::Repo {
                repo: format!("{}/{}", name(owner)?, name(repo)?),
                id: id(n)?,
            }),
            ["orgs", org, "hooks", n] => Ok(Hook::Org {
                org: name(org)?,
                id: id(n)?,
            }),
            _ => Err(usage()),
        }
    }
}

impl Hook {
    /// The hook's path under the API (`/repos/acme/payments/hooks/1`).
    pub fn path(&self) -> String {
        match self {
            Hook::Repo { repo, id } => format!("/repos/{repo}/hooks/{id}"),
            Hook::Org { org, id } => format!("/orgs/{org}/hooks/{id}"),
            Hook::App => "/app/hook".to_owned(),
        }
    }
}

/// One delivery as GitHub lists it (the fields used).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Delivery {
    /// The delivery's own id (what a redelivery is requested by).
    pub id: u64,
    /// The `X-GitHub-Delivery` value, shared by an event's redeliveries.
    pub guid: String,
    /// When it was delivered.
    pub delivered_at: String,
    /// The HTTP status the stack answered (0 when it could not be reached).
    #[serde(default)]
    pub status_code: u16,
    /// The event (`push`, `pull_request`).
    pub event: String,
}

/// A client of GitHub's REST API with a token.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    /// A client with the token in [`TOKEN_VAR`] against [`API_URL`] (or [`API_URL_VAR`]).
    pub fn from_env() -> Result<Self, ReconcileError> {
        Ok(Client {
            http: reqwest::Client::new(),
            base: super::api_base(API_URL_VAR, API_URL)?,
            token: super::token(
                TOKEN_VAR,
                "a token that can read the hook's deliveries: repository or organisation webhooks read and write, or the App's JWT for an App hook",
            )?,
        })
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .bearer_auth(&self.token)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header("User-Agent", concat!("wh/", env!("CARGO_PKG_VERSION")))
    }

    /// The error for an answer that is not a success.
    async fn refused(what: &str, response: reqwest::Response) -> ReconcileError {
        let status = response.status().as_u16();
        let message = error_message(&response.text().await.unwrap_or_default());
        if status == 401 {
            return ReconcileError::BadToken {
                provider: "GitHub",
                var: TOKEN_VAR,
                status,
                message,
                hint: "give a token that is valid and not expired",
            };
        }
        ReconcileError::Api(format!("GitHub {what}: HTTP {status}: {message}"))
    }

    /// The hook's deliveries delivered at or after `since`, newest first.
    pub async fn deliveries(
        &self,
        hook: &Hook,
        since: OffsetDateTime,
    ) -> Result<Vec<Delivery>, ReconcileError> {
        let mut url = format!("{}{}/deliveries?per_page=100", self.base, hook.path());
        let mut out = Vec::new();
        loop {
            let response = self
                .request(reqwest::Method::GET, &url)
                .send()
                .await
                .map_err(|e| ReconcileError::Api(format!("GitHub {url}: {e}")))?;
            if !response.status().is_success() {
                return Err(Self::refused("list deliveries", response).await);
            }
            let next = next_link(response.headers());
            let page: Vec<Delivery> = response.json().await.map_err(|e| {
                ReconcileError::Api(format!(
                    "GitHub list deliveries: not the documented shape: {e}"
                ))
            })?;
            let mut older = false;
            for d in page {
                if delivered_at(&d).is_some_and(|t| t < since) {
                    older = true;
                } else {
                    out.push(d);
                }
            }
            match next {
                Some(n) if !older => url = n,
                _ => return Ok(out),
            }
        }
    }

    /// Asks GitHub to redeliver a delivery.
    pub async fn redeliver(&self, hook: &Hook, delivery: u64) -> Result<(), ReconcileError> {
        let url = format!(
            "{}{}/deliveries/{delivery}/attempts",
            self.base,
            hook.path()
        );
        let response = self
            .request(reqwest::Method::POST, &url)
            .send()
            .await
            .map_err(|e| ReconcileError::Api(format!("GitHub {url}: {e}")))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(Self::refused("redeliver", response).await)
        }
    }
}

/// The `rel="next"` URL of a `Link` header (`<url>; rel="next", <url>; rel="last"`).
fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let link = headers.get(reqwest::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == r#"rel="next""#)
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
    })
}

fn delivered_at(d: &Delivery) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(&d.delivered_at, &Rfc3339).ok()
}

/// One event (guid) to act on: its newest delivery, and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    /// The delivery to redeliver (the guid's newest).
    pub delivery: u64,
    /// The item as reported; `Recovered` means "to be requested".
    pub item: Item,
}

/// What to do with each event among `deliveries` (grouped by guid), given which guids the
/// stack stored: nothing if it is stored and one of its deliveries was answered 2xx; "too
/// old" if its newest delivery is before `now` minus 3 days; else redeliver the newest.
pub fn plan(
    deliveries: &[Delivery],
    stored: &BTreeMap<String, bool>,
    now: OffsetDateTime,
) -> Vec<Planned> {
    let mut by_guid: BTreeMap<&str, Vec<&Delivery>> = BTreeMap::new();
    for d in deliveries {
        by_guid.entry(&d.guid).or_default().push(d);
    }
    let mut out: Vec<Planned> = by_guid
        .into_iter()
        .filter_map(|(guid, ds)| {
            let newest = ds.iter().max_by_key(|d| (delivered_at(d), d.id))?;
            let answered = ds.iter().any(|d| (200..300).contains(&d.status_code));
            let verdict = if stored.get(guid).copied().unwrap_or(false) && answered {
                Verdict::AlreadyStored
            } else if delivered_at(newest).is_none_or(|t| t < now - REDELIVERY_WINDOW) {
                Verdict::TooOld
            } else {
                Verdict::Recovered
            };
            Some(Planned {
                delivery: newest.id,
                item: Item {
                    id: guid.to_owned(),
                    event: newest.event.clone(),
                    at: newest.delivered_at.clone(),
                    verdict,
                },
            })
        })
        .collect();
    out.sort_by(|a, b| a.item.at.cmp(&b.item.at).then(a.item.id.cmp(&b.item.id)));
    out
}

/// Reconciles `provider` (a GitHub provider of the spec) against `hook`'s deliveries since
/// `since`.
pub async fn reconcile<S: Stack>(
    client: &Client,
    hook: &Hook,
    stack: &S,
    provider: &str,
    since: OffsetDateTime,
    now: OffsetDateTime,
    dry_run: bool,
) -> Result<Summary, ReconcileError> {
    let deliveries = client.deliveries(hook, since).await?;
    let mut guids: Vec<String> = deliveries.iter().map(|d| d.guid.clone()).collect();
    guids.sort();
    guids.dedup();
    let ids: Vec<String> = guids
        .iter()
        .map(|g| wh_runtime::model::webhook_id(provider, g))
        .collect();
    let stored: BTreeMap<String, bool> = guids
        .into_iter()
        .zip(stack.stored(&ids).await.map_err(ReconcileError::Stack)?)
        .collect();
    let mut items = Vec::new();
    for mut p in plan(&deliveries, &stored, now) {
        if p.item.verdict == Verdict::Recovered {
            p.item.verdict = if dry_run {
                Verdict::WouldRecover
            } else {
                match client.redeliver(hook, p.delivery).await {
                    Ok(()) => Verdict::Recovered,
                    // A refused token stops the run: every other request would fail alike.
                    Err(e @ ReconcileError::BadToken { .. }) => return Err(e),
                    Err(e) => Verdict::Failed(e.to_string()),
                }
            };
        }
        items.push(p.item);
    }
    Ok(Summary {
        provider: provider.to_owned(),
        since: rfc3339(since),
        dry_run,
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn d(id: u64, guid: &str, at: &str, status: u16) -> Delivery {
        Delivery {
            id,
            guid: guid.into(),
            delivered_at: at.into(),
            status_code: status,
            event: "push".into(),
        }
    }

    #[test]
    fn hooks_are_parsed_from_their_api_paths() {
        assert_eq!(
            "repos/acme/payments/hooks/12345678"
                .parse::<Hook>()
                .unwrap()
                .path(),
            "/repos/acme/payments/hooks/12345678"
        );
        assert_eq!(
            "orgs/acme/hooks/9".parse::<Hook>().unwrap(),
            Hook::Org {
                org: "acme".into(),
                id: 9
            }
        );
        assert_eq!("app".parse::<Hook>().unwrap().path(), "/app/hook");
        for bad in [
            "repos/acme/hooks/1",
            "orgs/acme/hooks/x",
            "repos/../x/hooks/1",
            "users/a",
        ] {
            let e = bad.parse::<Hook>().unwrap_err();
            assert!(e.contains("repos/<owner>/<repo>/hooks/<id>"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_next_page_is_the_link_headers_next() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            reqwest::header::LINK,
            r#"<https://api.github.com/repos/a/b/hooks/1/deliveries?per_page=100&cursor=v1_12>; rel="next""#
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://api.github.com/repos/a/b/hooks/1/deliveries?per_page=100&cursor=v1_12")
        );
        h.insert(
            reqwest::header::LINK,
            r#"<https://x/?cursor=1>; rel="prev""#.parse().unwrap(),
        );
        assert_eq!(next_link(&h), None);
    }

    #[test]
    fn each_event_is_stored_too_old_or_redelivered_from_its_newest_delivery() {
        let now = datetime!(2026-11-30 12:00 UTC);
        let deliveries = [
            // Stored and answered: nothing to do.
            d(1, "g-ok", "2026-11-30T10:00:00Z", 200),
            // Failed, then a redelivery succeeded but the stack has no record: redeliver.
            d(2, "g-lost", "2026-11-29T10:00:00Z", 503),
            d(3, "g-lost", "2026-11-29T11:00:00Z", 200),
            // Never answered 2xx although stored (a 504 after storing): redeliver the newest.
            d(4, "g-stored-503", "2026-11-30T09:00:00Z", 503),
            d(5, "g-stored-503", "2026-11-30T09:05:00Z", 0),
            // Its newest delivery is older than 3 days: report it.
            d(6, "g-old", "2026-11-27T11:59:59Z", 503),
        ];
        let stored = BTreeMap::from([
            ("g-ok".to_owned(), true),
            ("g-lost".to_owned(), false),
            ("g-stored-503".to_owned(), true),
            ("g-old".to_owned(), false),
        ]);
        let got: Vec<(String, u64, Verdict)> = plan(&deliveries, &stored, now)
            .into_iter()
            .map(|p| (p.item.id, p.delivery, p.item.verdict))
            .collect();
        assert_eq!(
            got,
            [
                ("g-old".to_owned(), 6, Verdict::TooOld),
                ("g-lost".to_owned(), 3, Verdict::Recovered),
                ("g-stored-503".to_owned(), 5, Verdict::Recovered),
                ("g-ok".to_owned(), 1, Verdict::AlreadyStored),
            ]
        );
    }
}
