//! The audit trail as the Management API and `ratchet logs` read it: Auth0's log event objects
//! (`log_id`, ISO 8601 `date`, `type`, …, with `client_name` and `user_name` looked up for the
//! events of one page only), offset pages over a search, checkpoint reads after a `log_id`, one
//! event by id, and the active-user count. Searches are a subset of Auth0's Lucene query syntax,
//! parsed by [`parse_search`] into the store's typed [`LogFilter`].

use std::collections::HashMap;
use std::sync::Arc;

use ratchet_core::iso8601::{self, Fill};
use ratchet_store::{LogFilter, LogOrder, LogQuery, Logged, Store};
use serde::Serialize;
use serde_json::Value;

use super::{ManageError, ManageResult, Page, Resource};
use crate::clock::Clock;

/// How far offset paging reaches into a search (Auth0's limit: "you may paginate only through
/// 1,000 search results"); beyond it, read by checkpoint (`from`/`take`), which stays as fast
/// on the last page as on the first.
pub const MAX_SEARCH_RESULTS: u64 = 1000;

/// The window of `GET /stats/active-users`: users with a successful login in the last 30 days.
pub const ACTIVE_USER_WINDOW: i64 = 30 * 86_400;

/// What the supported search syntax is, for error messages.
const SUPPORTED: &str = "supported terms are type:CODE, user_id:ID, client_id:ID (values bare or \"quoted\") and \
                         date:[FROM TO TO] (ISO 8601 dates or *), joined by spaces or AND";

/// A log event as Auth0's Management API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Log {
    /// The event's id: decimal, increasing with time (a checkpoint for `from`).
    pub log_id: String,
    /// When it happened (ISO 8601, UTC).
    pub date: String,
    /// Auth0's log event type code (`s`, `f`, `sertft`, `ferrt`, `sapi`, …).
    #[serde(rename = "type")]
    pub kind: String,
    pub description: String,
    pub client_id: Option<String>,
    /// The client's name now (absent for a deleted client).
    pub client_name: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub user_id: Option<String>,
    /// The user's email now (absent for a deleted user).
    pub user_name: Option<String>,
    #[schema(value_type = Object)]
    pub details: Value,
}

/// Reads the audit trail.
#[derive(Clone)]
pub struct LogService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl LogService {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        LogService { store, clock }
    }

    /// One page of the events `filter` selects, in `order`, with the number of all of them. Only
    /// the first [`MAX_SEARCH_RESULTS`] can be paged through.
    pub async fn search(&self, filter: &LogFilter, order: LogOrder, page: Page) -> ManageResult<super::Listed<Log>> {
        let end = page.offset() + u64::from(page.per_page);
        if end > MAX_SEARCH_RESULTS {
            return Err(ManageError::Invalid(format!(
                "You can only page through the first {MAX_SEARCH_RESULTS} records; read further with from and take (a checkpoint log_id)"
            )));
        }
        let query = LogQuery { filter: filter.clone(), order, after: None, offset: page.offset(), limit: page.per_page };
        let logged = self.store.logs(&query).await?;
        let total = self.store.count_logs(filter).await?;
        Ok(super::Listed { items: self.present(logged).await?, total })
    }

    /// Up to `take` events recorded after log id `from`, oldest first (Auth0's checkpoint read:
    /// pass the last `log_id` received as the next `from`).
    pub async fn after(&self, from: &str, take: u32) -> ManageResult<Vec<Log>> {
        let from: i64 = from
            .parse()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| ManageError::Invalid(format!("from must be a log_id (a decimal number), not {from:?}")))?;
        let query = LogQuery { order: LogOrder::OldestFirst, after: Some(from), limit: take, ..LogQuery::default() };
        self.present(self.store.logs(&query).await?).await
    }

    /// The newest `limit` events `filter` selects, with no paging limit (the CLI).
    pub async fn latest(&self, filter: &LogFilter, limit: u32) -> ManageResult<Vec<Log>> {
        let query = LogQuery { filter: filter.clone(), limit, ..LogQuery::default() };
        self.present(self.store.logs(&query).await?).await
    }

    /// One event by its `log_id`.
    pub async fn get(&self, log_id: &str) -> ManageResult<Log> {
        let logged = self.store.log(log_id).await?.ok_or(ManageError::NotFound(Resource::Log))?;
        Ok(self.present(vec![logged]).await?.remove(0))
    }

    /// How many existing users signed in successfully (`s`) in the last 30 days.
    pub async fn active_users(&self) -> ManageResult<u64> {
        Ok(self
            .store
            .count_event_users(ratchet_core::audit::EventType::LoginSucceeded.code(), self.clock.now() - ACTIVE_USER_WINDOW)
            .await?)
    }

    /// Auth0's objects for `logged`, with the names of the clients and users they mention (looked
    /// up once each, for this page only).
    async fn present(&self, logged: Vec<Logged>) -> ManageResult<Vec<Log>> {
        let mut clients: HashMap<String, Option<String>> = HashMap::new();
        for l in &logged {
            if let Some(id) = &l.event.client_id
                && !clients.contains_key(id)
            {
                let name = self.store.client(id).await?.map(|c| c.client.name);
                clients.insert(id.clone(), name);
            }
        }
        // The users of a page in one read (a page of 100 events may name 100 users).
        let mut ids: Vec<String> = logged.iter().filter_map(|l| l.event.user_id.clone()).collect();
        ids.sort_unstable();
        ids.dedup();
        let users: HashMap<String, String> = self.store.users_by_id(&ids).await?.into_iter().map(|u| (u.user_id, u.email)).collect();
        Ok(logged
            .into_iter()
            .map(|Logged { log_id, event: e }| Log {
                log_id,
                date: iso8601::format(e.at),
                client_name: e.client_id.as_ref().and_then(|id| clients.get(id).cloned().flatten()),
                user_name: e.user_id.as_ref().and_then(|id| users.get(id).cloned()),
                kind: e.kind,
                description: e.description,
                client_id: e.client_id,
                ip: e.ip,
                user_agent: e.user_agent,
                user_id: e.user_id,
                details: e.details,
            })
            .collect())
    }
}

/// Parses `sort` (`date:-1`, newest first, the default; `date:1`, oldest first).
pub fn parse_sort(sort: Option<&str>) -> ManageResult<LogOrder> {
    match sort.map(str::trim) {
        None | Some("") | Some("date:-1") => Ok(LogOrder::NewestFirst),
        Some("date:1") => Ok(LogOrder::OldestFirst),
        Some(other) => Err(ManageError::Invalid(format!("sort must be date:1 or date:-1, not {other:?}"))),
    }
}

/// Parses a search (`q` or `search`) in the subset of Auth0's Lucene syntax Ratchet supports:
/// `type:CODE`, `user_id:ID`, `client_id:ID` (values bare, with `\` escapes, or in double quotes)
/// and `date:[FROM TO TO]` (inclusive; `{…}` exclusive; ISO 8601 dates or `*`), joined by spaces
/// or `AND`. Anything else is [`ManageError::Invalid`] naming what is supported.
pub fn parse_search(q: &str) -> ManageResult<LogFilter> {
    let mut filter = LogFilter::default();
    let mut rest = q.trim_start();
    let mut expect_term = false;
    let mut terms = 0;
    let mut dated = false;
    while !rest.is_empty() {
        let (term, after) = next_term(rest)?;
        rest = after.trim_start();
        if term == "AND" || term == "&&" {
            if expect_term || terms == 0 {
                return Err(invalid(&format!("misplaced {term}")));
            }
            expect_term = true;
            continue;
        }
        expect_term = false;
        terms += 1;
        let Some((field, value)) = term.split_once(':') else {
            return Err(invalid(&format!("unsupported term {term:?}")));
        };
        let duplicate = || invalid(&format!("{field} given twice"));
        match field {
            "type" => set_once(&mut filter.kind, value_of(field, value)?, duplicate)?,
            "user_id" => set_once(&mut filter.user_id, value_of(field, value)?, duplicate)?,
            "client_id" => set_once(&mut filter.client_id, value_of(field, value)?, duplicate)?,
            "date" => {
                if dated {
                    return Err(duplicate());
                }
                dated = true;
                (filter.since, filter.until) = date_range(value)?;
            }
            _ => return Err(invalid(&format!("unsupported term {term:?}"))),
        }
    }
    if expect_term {
        return Err(invalid("a search cannot end with AND"));
    }
    Ok(filter)
}

fn invalid(what: &str) -> ManageError {
    ManageError::Invalid(format!("Invalid search: {what}; {SUPPORTED}"))
}

fn set_once(slot: &mut Option<String>, value: String, duplicate: impl Fn() -> ManageError) -> ManageResult<()> {
    if slot.is_some() {
        return Err(duplicate());
    }
    *slot = Some(value);
    Ok(())
}

/// Splits off the next term: up to unescaped, unquoted, unbracketed whitespace.
fn next_term(s: &str) -> ManageResult<(&str, &str)> {
    let mut quoted = false;
    let mut bracket = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' if !bracket => quoted = !quoted,
            '[' | '{' if !quoted => bracket = true,
            ']' | '}' if !quoted => bracket = false,
            c if c.is_whitespace() && !quoted && !bracket => return Ok((&s[..i], &s[i..])),
            _ => {}
        }
    }
    if quoted {
        return Err(invalid("unterminated quote"));
    }
    if bracket {
        return Err(invalid("unterminated date range"));
    }
    Ok((s, ""))
}

/// A term's value: `"quoted"` (with `\"` and `\\` escapes) or bare (with `\` escapes); the
/// wildcards and operators of full Lucene are refused rather than matched literally.
fn value_of(field: &str, raw: &str) -> ManageResult<String> {
    let (body, quoted) = match raw.strip_prefix('"') {
        Some(inner) => (inner.strip_suffix('"').ok_or_else(|| invalid(&format!("unterminated quote in {field}")))?, true),
        None => (raw, false),
    };
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next().ok_or_else(|| invalid(&format!("dangling \\ in {field}")))?),
            '"' => return Err(invalid(&format!("stray quote in {field}"))),
            '*' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '~' | '^' if !quoted => {
                return Err(invalid(&format!("{field}:{raw} uses Lucene syntax Ratchet does not support (escape it with \\ or quote it)")));
            }
            c => out.push(c),
        }
    }
    if out.is_empty() {
        return Err(invalid(&format!("{field} needs a value")));
    }
    Ok(out)
}

/// `[FROM TO TO]` (inclusive) or `{FROM TO TO}` (exclusive), each end an ISO 8601 date or `*`.
fn date_range(raw: &str) -> ManageResult<(Option<i64>, Option<i64>)> {
    let bad = || invalid(&format!("date:{raw} is not a range like date:[2026-01-01 TO 2026-01-31T12:00:00Z]"));
    let (inclusive_start, inner, inclusive_end) = match (raw.chars().next(), raw.chars().last()) {
        (Some(open @ ('[' | '{')), Some(close @ (']' | '}'))) if raw.len() >= 2 => (open == '[', &raw[1..raw.len() - 1], close == ']'),
        _ => return Err(bad()),
    };
    let words: Vec<&str> = inner.split_whitespace().collect();
    let [from, "TO", to] = words.as_slice() else { return Err(bad()) };
    let bound = |s: &str, fill: Fill| -> ManageResult<Option<i64>> {
        if s == "*" {
            return Ok(None);
        }
        let s = s.trim_matches('"');
        iso8601::parse(s, fill)
            .map(Some)
            .ok_or_else(|| invalid(&format!("{s:?} is not an ISO 8601 date (2026-01-31, 2026-01-31T12:00:00Z) or *")))
    };
    // An exclusive bound excludes the whole unit it names (a day, a minute or a second).
    let since = if inclusive_start { bound(from, Fill::Start)? } else { bound(from, Fill::End)?.map(|t| t + 1) };
    let until = if inclusive_end { bound(to, Fill::End)? } else { bound(to, Fill::Start)?.map(|t| t - 1) };
    Ok((since, until))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(q: &str) -> LogFilter {
        parse_search(q).unwrap_or_else(|e| panic!("{q:?}: {e}"))
    }

    fn err(q: &str) -> String {
        match parse_search(q) {
            Err(ManageError::Invalid(m)) => m,
            other => panic!("{q:?} should be invalid, got {other:?}"),
        }
    }

    const DAY_2023_11_14: i64 = 1_699_920_000;

    #[test]
    fn empty_searches_select_everything() {
        assert_eq!(ok(""), LogFilter::default());
        assert_eq!(ok("   "), LogFilter::default());
    }

    #[test]
    fn field_terms_bare_quoted_and_escaped() {
        assert_eq!(ok("type:s"), LogFilter { kind: Some("s".into()), ..Default::default() });
        assert_eq!(ok("user_id:\"auth0|abc\""), LogFilter { user_id: Some("auth0|abc".into()), ..Default::default() });
        assert_eq!(ok("user_id:auth0|abc"), LogFilter { user_id: Some("auth0|abc".into()), ..Default::default() });
        assert_eq!(ok("user_id:auth0\\|abc"), LogFilter { user_id: Some("auth0|abc".into()), ..Default::default() });
        assert_eq!(
            ok("user_id:\"has \\\"quote\\\" and space\""),
            LogFilter { user_id: Some("has \"quote\" and space".into()), ..Default::default() }
        );
        assert_eq!(ok("client_id:abc123"), LogFilter { client_id: Some("abc123".into()), ..Default::default() });
    }

    #[test]
    fn terms_join_with_spaces_or_and() {
        let want = LogFilter {
            kind: Some("ferrt".into()),
            user_id: Some("ratchet|u1".into()),
            client_id: Some("c1".into()),
            ..Default::default()
        };
        assert_eq!(ok("type:ferrt user_id:\"ratchet|u1\" client_id:c1"), want);
        assert_eq!(ok("type:ferrt AND user_id:\"ratchet|u1\" AND client_id:c1"), want);
        assert_eq!(ok("  type:ferrt   AND  user_id:\"ratchet|u1\"  client_id:c1  "), want);
    }

    #[test]
    fn date_ranges_inclusive_exclusive_and_open() {
        let f = ok("date:[2023-11-14 TO 2023-11-14]");
        assert_eq!((f.since, f.until), (Some(DAY_2023_11_14), Some(DAY_2023_11_14 + 86_399)), "a whole day");
        let f = ok("date:[2023-11-14T22:13:20Z TO *]");
        assert_eq!((f.since, f.until), (Some(1_700_000_000), None));
        let f = ok("date:[* TO 2023-11-14T22:13:20.000Z]");
        assert_eq!((f.since, f.until), (None, Some(1_700_000_000)));
        let f = ok("date:{2023-11-13 TO 2023-11-15}");
        assert_eq!((f.since, f.until), (Some(DAY_2023_11_14), Some(DAY_2023_11_14 + 86_399)), "exclusive ends skip their day");
        let f = ok("type:s AND date:[\"2023-11-14\" TO *]");
        assert_eq!((f.kind.as_deref(), f.since), (Some("s"), Some(DAY_2023_11_14)));
    }

    #[test]
    fn anything_else_is_invalid_and_names_what_is_supported() {
        for q in [
            "description:login",
            "anything",
            "type:s OR type:f",
            "NOT type:s",
            "type:s*",
            "type:",
            "user_id:\"unterminated",
            "type:s AND",
            "AND type:s",
            "type:s AND AND type:f",
            "type:s type:f",
            "date:2023-11-14",
            "date:[2023-11-14 2023-11-15]",
            "date:[2023-11-14 TO 2023-13-01]",
            "date:[yesterday TO *]",
            "date:[2023-11-14 TO *",
            "date:[* TO *] date:[* TO *]",
            "user_id:(a b)",
        ] {
            let m = err(q);
            assert!(m.contains("supported terms are type:CODE, user_id:ID, client_id:ID"), "{q:?}: {m}");
        }
        assert!(err("description:login").contains("\"description:login\""));
        assert!(err("type:s type:f").contains("type given twice"));
    }

    #[test]
    fn sort_is_by_date_either_way() {
        assert_eq!(parse_sort(None).unwrap(), LogOrder::NewestFirst);
        assert_eq!(parse_sort(Some("date:-1")).unwrap(), LogOrder::NewestFirst);
        assert_eq!(parse_sort(Some("date:1")).unwrap(), LogOrder::OldestFirst);
        assert!(parse_sort(Some("type:1")).is_err());
    }
}
