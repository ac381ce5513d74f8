//! Listing an OCM collection (`page` from 1, `size=100`, `order=id` for stable pages): the
//! first page says how many items there are, then the remaining pages are asked for
//! [`PAGES_AHEAD`] at a time (the environment's concurrency limit bounds how many are on the
//! wire), checked in page order and handed over item by item, so a listing is never held
//! whole. A listing that cannot be trusted fails instead of being cut short: a page repeating
//! the previous one, a `total` that changes between pages, an empty page before `total`
//! items, or more items than `total`. Without a `total`, pages are read one after another
//! until one is shorter than `size`.

use super::{ListPage, MAX_PAGES, OcmClient, PAGE_SIZE};
use crate::clients::http::{ApiError, read_json};
use futures::StreamExt;
use reqwest::Method;
use serde_json::Value;
use url::Url;

/// Pages asked for ahead of the one being checked.
const PAGES_AHEAD: usize = 16;

/// The pages of one listing so far, and the checks between them.
struct Listing<'a, F> {
    base_op: &'a str,
    seen: u64,
    first_total: Option<u64>,
    previous: Option<Value>,
    each: F,
}

impl<F: FnMut(Value)> Listing<'_, F> {
    /// Takes in page `page`; `Ok(true)` once the listing is complete.
    fn take(&mut self, page: usize, body: ListPage) -> Result<bool, ApiError> {
        let op = format!("{} (page {page})", self.base_op);
        let items = body
            .items
            .ok_or_else(|| ApiError::decode(&op, "the list has no 'items'"))?;
        let untrusted =
            |why: String| ApiError::decode(&op, format!("{why}; the listing cannot be trusted"));
        if page > 1 && body.total != self.first_total {
            return Err(untrusted(format!(
                "the total changed from {:?} to {:?} between pages",
                self.first_total, body.total
            )));
        }
        self.first_total = body.total;
        if !items.is_empty() && items.first() == self.previous.as_ref() {
            return Err(untrusted("the server returned the same page twice".into()));
        }
        let n = items.len();
        self.previous = items.first().cloned();
        self.seen += n as u64;
        let seen = self.seen;
        if body.total.is_none_or(|total| seen <= total) {
            items.into_iter().for_each(&mut self.each);
        }
        match body.total {
            Some(total) if seen > total => Err(untrusted(format!(
                "{seen} items returned, but the total is {total}"
            ))),
            Some(total) if n == 0 && seen < total => Err(untrusted(format!(
                "the total is {total}, but the listing ended after {seen} items"
            ))),
            // `total` is authoritative: a server whose maximum page size is below ours
            // answers with short pages that are not the last one.
            Some(total) => Ok(seen >= total),
            None => Ok(n < PAGE_SIZE),
        }
    }
}

impl OcmClient {
    /// Hands every item of a list endpoint to `each`, in order (see the module
    /// documentation); an error when the listing cannot be had whole.
    pub(super) async fn list_all(
        &self,
        what: &str,
        segments: &[&str],
        search: &str,
        each: impl FnMut(Value),
    ) -> Result<(), ApiError> {
        let base_op = self.op(format!("list {what}"));
        let url = self.url(&base_op, segments)?;
        let mut listing = Listing {
            base_op: &base_op,
            seen: 0,
            first_total: None,
            previous: None,
            each,
        };
        let first = self.page(&base_op, &url, search, 1).await?;
        let (per_page, total) = (first.items.as_ref().map_or(0, Vec::len), first.total);
        if listing.take(1, first)? {
            return Ok(());
        }
        let mut next = 2;
        // The pages `total` implies, at the page size the server answered with.
        if let Some(total) = total.and_then(|t| usize::try_from(t).ok())
            && per_page > 0
        {
            let last = total.div_ceil(per_page).min(MAX_PAGES);
            let mut pages = futures::stream::iter(next..=last)
                .map(|p| self.page(&base_op, &url, search, p))
                .buffered(PAGES_AHEAD);
            while let Some(body) = pages.next().await {
                if listing.take(next, body?)? {
                    return Ok(());
                }
                next += 1;
            }
        }
        // Without a total (or when it was not reached): one page after the other.
        for page in next..=MAX_PAGES {
            let body = self.page(&base_op, &url, search, page).await?;
            if listing.take(page, body)? {
                return Ok(());
            }
        }
        Err(ApiError::decode(
            &base_op,
            format!("more than {MAX_PAGES} pages of {PAGE_SIZE}; giving up"),
        ))
    }

    async fn page(
        &self,
        base_op: &str,
        url: &Url,
        search: &str,
        page: usize,
    ) -> Result<ListPage, ApiError> {
        let op = format!("{base_op} (page {page})");
        let query = [
            ("search", search.to_owned()),
            ("page", page.to_string()),
            ("size", PAGE_SIZE.to_string()),
            ("order", "id".to_owned()),
        ];
        let resp = self.call(&op, Method::GET, url, &query, None).await?;
        read_json(&op, resp, self.http.settings.max_body)
            .await
            .map_err(|e| match e {
                ApiError::Decode { message, .. } => {
                    ApiError::decode(&op, format!("not a list: {message}"))
                }
                other => other,
            })
    }
}
