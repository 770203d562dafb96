//! Importing waitlists exported from other back-in-stock apps (Back in Stock, Klaviyo, Notify Me!, a
//! merchant's own spreadsheet): a CSV reader and the rules that turn its rows into signups in their
//! original order.
//!
//! The rules, in the order they are applied to each data row:
//! - **Columns** are found by header name, compared on letters and digits only, case-insensitively
//!   (`E-mail Address` = `email_address` = `emailaddress`), through the aliases in [`ALIASES`]; for
//!   each field the first alias with a column wins, then the leftmost such column. A file needs an email
//!   column, a signup-date column (the queue is FIFO: without signup times there is no fair order), and
//!   a SKU or variant id column.
//! - **Status** (optional column): empty, `waiting`, `pending`, `active`, `subscribed`, `not sent`, …
//!   import. `sent`, `notified`, `delivered`, `converted`, `purchased`, … are *skipped* as
//!   `already_notified`; `unsubscribed`/`opted out` as `unsubscribed`; `cancelled`, `deleted`,
//!   `expired` as `cancelled`. Any other status is *rejected* (`unknown_status`): guessing could message
//!   someone twice or drop a waiting shopper, so the merchant decides.
//! - **Email** is required and checked by [`Email::parse`].
//! - **Item**: a SKU ([`Sku::parse`]) and/or a Shopify variant id (a number or
//!   `gid://shopify/ProductVariant/…`). A column headed just `Variant` often holds the variant's *title*
//!   (`Small`), so there a non-numeric value is ignored rather than rejected.
//! - **Signup date**, read as (all without an offset are UTC):
//!   RFC 3339 (`2024-03-01T14:22:05-05:00`, also with a space for `T`); `YYYY-MM-DD HH:MM[:SS[.fff]]`
//!   (optionally followed by `Z` or `UTC`); `YYYY-MM-DD` (midnight); US `M/D/YYYY` with an optional
//!   `H:MM[:SS]` and optional `AM`/`PM`. Slashed dates are always month first: `13/02/2024` is rejected,
//!   never swapped, because a day-first file would silently reorder the queue.
//! - **Optional fields** never cost a shopper their place: a bad phone (not `+` and 8–15 digits, after
//!   dropping spaces, dashes, dots, brackets and a `(0)` trunk prefix; a leading `00` counts as `+`) or
//!   locale is dropped with
//!   a warning; a quantity that is not a whole number is read as 1, one above 100 as 100, with a warning.
//!   SMS consent is true only for yes-like values (`yes`, `true`, `1`, `subscribed`, …) and a kept phone.
//!
//! Rows that pass are sorted by signup time, ties by line (the file's order). A **duplicate** is a
//! later row with the same address (by [`Email::key`]) and item (the SKU when the row has one, else the
//! variant id); the earliest signup is kept. Line numbers are 1-based lines of the file where the row
//! starts (the header is line 1), as a text editor shows them.

use crate::date::{parse_timestamp_ms, Date, DAY_MS};
use crate::Email;
use crate::{Phone, Sku};
use std::collections::HashMap;
use thiserror::Error;

/// Most data rows one import may hold: a bound on the work and the memory of one request (about
/// 10 MB of CSV), and on the size of the report sent back.
pub const MAX_ROWS: usize = 50_000;

/// Most units one signup may ask for: the API's own limit.
pub const MAX_QUANTITY: u32 = 100;

/// Header aliases per field, normalised (letters and digits, lower case), in order of preference.
pub const ALIASES: &[(&str, &[&str])] = &[
    ("email", &["email", "emailaddress", "customeremail", "subscriberemail", "contactemail"]),
    ("phone", &["phone", "phonenumber", "sms", "smsnumber", "mobile", "mobilephone", "customerphone"]),
    ("sku", &["sku", "variantsku", "productsku"]),
    ("variant_id", &["variantid", "shopifyvariantid", "productvariantid", "variant"]),
    ("product", &["product", "producttitle", "productname"]),
    (
        "signup_date",
        &[
            "signupdate",
            "signedupat",
            "createdat",
            "dateadded",
            "subscribedat",
            "datecreated",
            "created",
            "date",
            "timestamp",
        ],
    ),
    ("quantity", &["quantity", "qty", "quantityrequired", "quantityrequested"]),
    ("locale", &["locale", "language", "lang", "customerlocale"]),
    ("sms_consent", &["acceptssmsmarketing", "smsconsent", "smsoptin", "smsmarketingconsent"]),
    ("status", &["status", "notificationstatus", "state"]),
];

/// The variant-id alias whose values may be titles rather than ids.
const LOOSE_VARIANT_ALIAS: &str = "variant";

/// One signup to import.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRow {
    /// Where the row starts in the file (1-based; the header is line 1).
    pub line: usize,
    /// As in the file, trimmed; valid ([`Email::parse`]).
    pub email: String,
    /// E.164 (`+447700900123`).
    pub phone: Option<String>,
    pub sku: Option<String>,
    pub variant_id: Option<i64>,
    pub product: Option<String>,
    pub signed_up_at_ms: i64,
    /// 1–[`MAX_QUANTITY`].
    pub quantity: u32,
    pub locale: Option<String>,
    /// Only with a phone.
    pub sms_consent: bool,
}

/// A row left out (or imported with a field dropped), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    pub line: usize,
    /// Stable machine-readable reason (`invalid_email`, `already_notified`, `invalid_phone`, …).
    pub code: &'static str,
    pub message: String,
}

/// A row left out because an earlier signup has the same address and item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateRow {
    pub line: usize,
    /// The line of the signup that was kept.
    pub kept_line: usize,
}

/// What an import would do. Every data row of the file is in exactly one of `rows`, `rejected`,
/// `skipped` and `duplicates`; `warnings` are about rows in `rows`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImportPlan {
    /// In signup order: by `signed_up_at_ms`, ties by line.
    pub rows: Vec<ImportRow>,
    /// Rows that cannot be imported as they are (bad email, no item, bad date, unknown status), by line.
    pub rejected: Vec<RejectedRow>,
    /// Rows whose status says they are done with (notified, unsubscribed, cancelled), by line.
    pub skipped: Vec<RejectedRow>,
    /// By line.
    pub duplicates: Vec<DuplicateRow>,
    /// Imported rows with an optional field dropped or corrected, by line.
    pub warnings: Vec<RejectedRow>,
    /// Which header each field was read from (`("email", "Email Address")`), in [`ALIASES`] order.
    pub columns: Vec<(&'static str, String)>,
}

/// Why a whole file cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ImportError {
    #[error("the file has no header row")]
    Empty,
    #[error("no {0} column; expected a header such as {1}")]
    MissingColumn(&'static str, &'static str),
    #[error("the file has more than {MAX_ROWS} rows; split it into smaller files")]
    TooManyRows,
    #[error("line {0}: a quoted field is never closed")]
    UnclosedQuote(usize),
}

impl ImportError {
    /// The stable machine-readable code sent as `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            ImportError::Empty => "empty_file",
            ImportError::MissingColumn(..) => "missing_column",
            ImportError::TooManyRows => "too_many_rows",
            ImportError::UnclosedQuote(_) => "invalid_csv",
        }
    }
}

/// Reads an exported waitlist. Bad rows are reported in the plan; only a file that cannot be read as a
/// waitlist at all is an error.
pub fn parse_waitlist_csv(text: &str) -> Result<ImportPlan, ImportError> {
    let mut records = csv_records(text);
    let header = records.next().ok_or(ImportError::Empty)??;
    let columns = Columns::find(&header.fields)?;
    let mut plan = ImportPlan { columns: columns.names(&header.fields), ..ImportPlan::default() };
    let mut count = 0usize;
    for record in records {
        let record = record?;
        count += 1;
        if count > MAX_ROWS {
            return Err(ImportError::TooManyRows);
        }
        match read_row(&columns, &record, &mut plan.warnings) {
            Read::Row(row) => plan.rows.push(row),
            Read::Skipped(code, message) => plan.skipped.push(RejectedRow { line: record.line, code, message }),
            Read::Rejected(code, message) => plan.rejected.push(RejectedRow { line: record.line, code, message }),
        }
    }
    plan.rows.sort_by_key(|r| (r.signed_up_at_ms, r.line));
    let mut kept: HashMap<(String, Item), usize> = HashMap::new();
    let mut rows = Vec::with_capacity(plan.rows.len());
    for row in std::mem::take(&mut plan.rows) {
        // `row.email` passed `Email::parse` in `read_row`.
        let key = (Email::parse(&row.email).map(|e| e.key()).unwrap_or_default(), Item::of(&row));
        match kept.get(&key) {
            Some(&kept_line) => plan.duplicates.push(DuplicateRow { line: row.line, kept_line }),
            None => {
                kept.insert(key, row.line);
                rows.push(row);
            }
        }
    }
    plan.rows = rows;
    plan.duplicates.sort_by_key(|d| d.line);
    // Warnings about rows that turned out to be duplicates are noise.
    let imported: std::collections::HashSet<usize> = plan.rows.iter().map(|r| r.line).collect();
    plan.warnings.retain(|w| imported.contains(&w.line));
    Ok(plan)
}

/// What makes two signups the same wish.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Item {
    Sku(String),
    Variant(i64),
}

impl Item {
    fn of(row: &ImportRow) -> Item {
        match (&row.sku, row.variant_id) {
            (Some(sku), _) => Item::Sku(sku.clone()),
            (None, Some(v)) => Item::Variant(v),
            // `read_row` never lets a row through without one of them.
            (None, None) => Item::Sku(String::new()),
        }
    }
}

/// Column index per field.
struct Columns {
    email: usize,
    phone: Option<usize>,
    sku: Option<usize>,
    /// With whether the column may hold titles (headed just `Variant`).
    variant: Option<(usize, bool)>,
    product: Option<usize>,
    date: usize,
    quantity: Option<usize>,
    locale: Option<usize>,
    sms_consent: Option<usize>,
    status: Option<usize>,
}

impl Columns {
    fn find(headers: &[String]) -> Result<Columns, ImportError> {
        let norms: Vec<String> = headers.iter().map(|h| normalise(h)).collect();
        // Preference order of the aliases first, then the leftmost column.
        let lookup = |field: &str| -> Option<(usize, &'static str)> {
            let aliases = ALIASES.iter().find(|(f, _)| *f == field).map(|(_, a)| *a).unwrap_or(&[]);
            aliases.iter().find_map(|alias| norms.iter().position(|n| n == alias).map(|i| (i, *alias)))
        };
        let index = |field: &str| lookup(field).map(|(i, _)| i);
        let email = index("email").ok_or(ImportError::MissingColumn("email", "\"Email\" or \"Email Address\""))?;
        let date = index("signup_date")
            .ok_or(ImportError::MissingColumn("signup date", "\"Created At\", \"Signup Date\" or \"Date Added\""))?;
        let sku = index("sku");
        let variant = lookup("variant_id").map(|(i, alias)| (i, alias == LOOSE_VARIANT_ALIAS));
        if sku.is_none() && variant.is_none() {
            return Err(ImportError::MissingColumn("SKU or variant id", "\"SKU\" or \"Variant ID\""));
        }
        Ok(Columns {
            email,
            phone: index("phone"),
            sku,
            variant,
            product: index("product"),
            date,
            quantity: index("quantity"),
            locale: index("locale"),
            sms_consent: index("sms_consent"),
            status: index("status"),
        })
    }

    fn names(&self, headers: &[String]) -> Vec<(&'static str, String)> {
        let found = [
            ("email", Some(self.email)),
            ("phone", self.phone),
            ("sku", self.sku),
            ("variant_id", self.variant.map(|(i, _)| i)),
            ("product", self.product),
            ("signup_date", Some(self.date)),
            ("quantity", self.quantity),
            ("locale", self.locale),
            ("sms_consent", self.sms_consent),
            ("status", self.status),
        ];
        found.into_iter().filter_map(|(f, i)| Some((f, headers.get(i?)?.trim().to_owned()))).collect()
    }
}

/// Letters and digits only, lower case: `E-mail Address` → `emailaddress`.
fn normalise(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

enum Read {
    Row(ImportRow),
    Skipped(&'static str, String),
    Rejected(&'static str, String),
}

fn read_row(cols: &Columns, record: &CsvRecord, warnings: &mut Vec<RejectedRow>) -> Read {
    let line = record.line;
    let cell = |i: Option<usize>| i.and_then(|i| record.fields.get(i)).map(|s| s.trim()).unwrap_or("");
    let status = cell(cols.status);
    match Status::of(status) {
        Status::Waiting => {}
        Status::Done(code) => return Read::Skipped(code, format!("status {:?}: not waiting any more", clip(status))),
        Status::Unknown => {
            return Read::Rejected(
                "unknown_status",
                format!("status {:?} is not one we know; use \"waiting\" for rows to import", clip(status)),
            )
        }
    }
    let raw_email = cell(Some(cols.email));
    if raw_email.is_empty() {
        return Read::Rejected("missing_email", "the row has no email address".into());
    }
    let email = match Email::parse(raw_email) {
        Ok(e) => e,
        Err(e) => return Read::Rejected("invalid_email", format!("{:?}: {e}", clip(raw_email))),
    };
    let sku = match cell(cols.sku) {
        "" => None,
        s => match Sku::parse(s) {
            Ok(sku) => Some(sku.into_string()),
            Err(e) => return Read::Rejected("invalid_sku", format!("SKU {:?}: {e}", clip(s))),
        },
    };
    let variant_id = match cols.variant {
        None => None,
        Some((i, loose)) => match cell(Some(i)) {
            "" => None,
            v => match parse_variant_id(v) {
                Some(id) => Some(id),
                None if loose => None,
                None => {
                    return Read::Rejected("invalid_variant_id", format!("variant id {:?} is not a number", clip(v)))
                }
            },
        },
    };
    if sku.is_none() && variant_id.is_none() {
        return Read::Rejected("missing_item", "the row names neither a SKU nor a variant id".into());
    }
    let raw_date = cell(Some(cols.date));
    if raw_date.is_empty() {
        return Read::Rejected("missing_date", "the row has no signup date".into());
    }
    let Some(signed_up_at_ms) = parse_signup_time(raw_date) else {
        return Read::Rejected(
            "invalid_date",
            format!("signup date {:?} is not YYYY-MM-DD, YYYY-MM-DD HH:MM:SS, RFC 3339 or MM/DD/YYYY", clip(raw_date)),
        );
    };
    let mut warn = |code: &'static str, message: String| warnings.push(RejectedRow { line, code, message });
    let phone = match cell(cols.phone) {
        "" => None,
        p => match Phone::parse(p) {
            Ok(p) => Some(p.into_string()),
            Err(_) => {
                warn("invalid_phone", format!("phone {:?} is not in international format (+…); dropped", clip(p)));
                None
            }
        },
    };
    let quantity = match cell(cols.quantity) {
        "" => 1,
        q => match parse_count(q) {
            Some(n) if (1..=MAX_QUANTITY as u64).contains(&n) => n as u32,
            Some(n) if n > MAX_QUANTITY as u64 => {
                warn("invalid_quantity", format!("quantity {n} is above {MAX_QUANTITY}; imported as {MAX_QUANTITY}"));
                MAX_QUANTITY
            }
            _ => {
                warn("invalid_quantity", format!("quantity {:?} is not a whole number from 1; imported as 1", clip(q)));
                1
            }
        },
    };
    let locale = match cell(cols.locale) {
        "" => None,
        l if l.len() <= 35 && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_') => {
            Some(l.to_owned())
        }
        l => {
            warn("invalid_locale", format!("locale {:?} is not a language tag like en or de-CH; dropped", clip(l)));
            None
        }
    };
    let sms_consent = phone.is_some() && is_yes(cell(cols.sms_consent));
    let product = Some(cell(cols.product)).filter(|p| !p.is_empty()).map(str::to_owned);
    Read::Row(ImportRow {
        line,
        email: email.as_str().to_owned(),
        phone,
        sku,
        variant_id,
        product,
        signed_up_at_ms,
        quantity,
        locale,
        sms_consent,
    })
}

/// At most 40 characters of a value, for messages.
fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

enum Status {
    Waiting,
    Done(&'static str),
    Unknown,
}

impl Status {
    fn of(raw: &str) -> Status {
        match normalise(raw).as_str() {
            "" | "waiting" | "pending" | "active" | "subscribed" | "open" | "notsent" | "unsent" | "notnotified"
            | "queued" | "new" | "awaitingstock" | "outofstock" => Status::Waiting,
            "sent" | "notified" | "delivered" | "emailed" | "completed" | "complete" | "converted" | "purchased"
            | "ordered" | "fulfilled" | "engaged" | "opened" | "clicked" => Status::Done("already_notified"),
            "unsubscribed" | "optedout" | "optout" => Status::Done("unsubscribed"),
            "cancelled" | "canceled" | "deleted" | "removed" | "expired" | "archived" => Status::Done("cancelled"),
            _ => Status::Unknown,
        }
    }
}

fn is_yes(raw: &str) -> bool {
    matches!(
        normalise(raw).as_str(),
        "yes"
            | "y"
            | "true"
            | "t"
            | "1"
            | "x"
            | "subscribed"
            | "optedin"
            | "optin"
            | "accepted"
            | "granted"
            | "consented"
    )
}

/// `123`, or `gid://shopify/ProductVariant/123`; positive.
fn parse_variant_id(s: &str) -> Option<i64> {
    let digits = s.strip_prefix("gid://shopify/ProductVariant/").unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&n| n > 0)
}

/// `3`, or `3.0` as spreadsheets write it.
fn parse_count(s: &str) -> Option<u64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|c| c.is_ascii_digit()) || !frac.bytes().all(|c| c == b'0') {
        return None;
    }
    int.parse().ok()
}

/// Unix milliseconds of a signup date in one of the documented forms (see the module doc).
fn parse_signup_time(s: &str) -> Option<i64> {
    if let Ok(ms) = parse_timestamp_ms(s) {
        return Some(ms);
    }
    if let Some(date) = s.get(..10).and_then(|d| Date::parse(d).ok()) {
        let rest = &s[10..];
        if rest.is_empty() {
            return Some(date.unix_ms());
        }
        let time = rest.strip_prefix(['T', 't', ' '])?;
        let time = time.strip_suffix(" UTC").or_else(|| time.strip_suffix(['Z', 'z'])).unwrap_or(time);
        return Some(date.unix_ms() + clock_ms(time, false)?);
    }
    let (date, time) = s.split_once(' ').unwrap_or((s, ""));
    let mut parts = date.split('/');
    let (m, d, y) = (parts.next()?, parts.next()?, parts.next()?);
    let short = |p: &str| (1..=2).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit());
    if parts.next().is_some() || !short(m) || !short(d) || y.len() != 4 {
        return None;
    }
    let date = Date::parse(&format!("{y}-{m:0>2}-{d:0>2}")).ok()?;
    let in_day = if time.trim().is_empty() { 0 } else { clock_ms(time.trim(), true)? };
    Some(date.unix_ms() + in_day)
}

/// `H:MM`, `HH:MM:SS`, `HH:MM:SS.fff`, and with `twelve_hour`, an optional `AM`/`PM` suffix.
fn clock_ms(t: &str, twelve_hour: bool) -> Option<i64> {
    let upper = t.trim().to_ascii_uppercase();
    let (clock, pm) = match (upper.strip_suffix("AM"), upper.strip_suffix("PM")) {
        (Some(c), _) if twelve_hour => (c.trim_end().to_owned(), Some(false)),
        (_, Some(c)) if twelve_hour => (c.trim_end().to_owned(), Some(true)),
        _ => (upper.clone(), None),
    };
    let mut parts = clock.split(':');
    let (h, m, sec) = (parts.next()?, parts.next()?, parts.next());
    if parts.next().is_some() {
        return None;
    }
    let digits = |p: &str, lens: std::ops::RangeInclusive<usize>| {
        (lens.contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit())).then(|| p.parse::<i64>().ok()).flatten()
    };
    let mut hour = digits(h, 1..=2)?;
    let minute = digits(m, 2..=2)?;
    let (second, millis) = match sec {
        None => (0, 0),
        Some(s) => {
            let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
            let frac_ok = frac.bytes().all(|c| c.is_ascii_digit()) && (s.len() == whole.len() || !frac.is_empty());
            if !frac_ok {
                return None;
            }
            let millis = format!("{:0<3}", &frac[..frac.len().min(3)]).parse::<i64>().ok()?;
            (digits(whole, 2..=2)?, millis)
        }
    };
    match pm {
        Some(pm) => {
            if !(1..=12).contains(&hour) {
                return None;
            }
            hour = hour % 12 + if pm { 12 } else { 0 };
        }
        None if hour > 23 => return None,
        None => {}
    }
    if minute > 59 || second > 59 {
        return None;
    }
    let ms = ((hour * 60 + minute) * 60 + second) * 1000 + millis;
    (ms < DAY_MS).then_some(ms)
}

/// One CSV record: its fields, unquoted, and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRecord {
    /// 1-based line of the file where the record starts.
    pub line: usize,
    pub fields: Vec<String>,
}

/// Reads CSV as RFC 4180 describes it, leniently, as spreadsheets write it: fields separated by the
/// delimiter the header line uses most (`,`, `;` or tab; `,` on a tie), records ended by CRLF, LF or
/// CR; `"quoted"` fields may hold delimiters, line breaks (read as `\n`) and `""` for a quote; a quote
/// after leading spaces still opens a quoted field; a stray quote inside an unquoted field is kept as
/// text. A leading UTF-8 byte-order mark is dropped. Blank records (nothing but delimiters and white
/// space) are skipped. An unclosed quote is an error: it would swallow the rest of the file.
///
/// Excel's `sep=;` first line, when present, names the delimiter and is not a record.
pub fn csv_records(text: &str) -> CsvReader<'_> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.split(['\r', '\n']).next().unwrap_or("");
    let mut hint = first.get(..4).filter(|p| p.eq_ignore_ascii_case("sep=")).map(|_| first[4..].chars());
    if let Some(delimiter) = hint.as_mut().and_then(|c| c.next().filter(|_| c.next().is_none())) {
        let rest = &text[first.len()..];
        let rest = rest.strip_prefix("\r\n").or_else(|| rest.strip_prefix(['\r', '\n'])).unwrap_or(rest);
        return CsvReader { chars: rest.chars().peekable(), line: 2, delimiter, done: false };
    }
    CsvReader { chars: text.chars().peekable(), line: 1, delimiter: sniff_delimiter(text), done: false }
}

/// The iterator [`csv_records`] returns.
pub struct CsvReader<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
    delimiter: char,
    done: bool,
}

impl Iterator for CsvReader<'_> {
    type Item = Result<CsvRecord, ImportError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            if self.chars.peek().is_none() {
                self.done = true;
                break;
            }
            let line = self.line;
            match self.record(line) {
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Ok(fields) if fields.iter().all(|f| f.trim().is_empty()) => continue,
                Ok(fields) => return Some(Ok(CsvRecord { line, fields })),
            }
        }
        None
    }
}

impl CsvReader<'_> {
    fn record(&mut self, start: usize) -> Result<Vec<String>, ImportError> {
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut in_quotes = false;
        let mut was_quoted = false;
        loop {
            let Some(c) = self.chars.next() else {
                if in_quotes {
                    return Err(ImportError::UnclosedQuote(start));
                }
                fields.push(field);
                return Ok(fields);
            };
            if in_quotes {
                match c {
                    '"' if self.chars.peek() == Some(&'"') => {
                        self.chars.next();
                        field.push('"');
                    }
                    '"' => in_quotes = false,
                    '\r' | '\n' => {
                        if c == '\r' && self.chars.peek() == Some(&'\n') {
                            self.chars.next();
                        }
                        self.line += 1;
                        field.push('\n');
                    }
                    _ => field.push(c),
                }
                continue;
            }
            match c {
                '"' if !was_quoted && field.trim().is_empty() => {
                    field.clear();
                    in_quotes = true;
                    was_quoted = true;
                }
                '\r' | '\n' => {
                    if c == '\r' && self.chars.peek() == Some(&'\n') {
                        self.chars.next();
                    }
                    self.line += 1;
                    fields.push(field);
                    return Ok(fields);
                }
                c if c == self.delimiter => {
                    fields.push(std::mem::take(&mut field));
                    was_quoted = false;
                }
                _ => field.push(c),
            }
        }
    }
}

/// The delimiter the first line (outside quotes) uses most: `,`, `;` or tab; `,` on a tie or none.
fn sniff_delimiter(text: &str) -> char {
    let mut counts = [(',', 0usize), (';', 0), ('\t', 0)];
    let mut in_quotes = false;
    for c in text.chars() {
        match c {
            '"' => in_quotes = !in_quotes,
            '\r' | '\n' if !in_quotes => break,
            _ if !in_quotes => {
                if let Some(slot) = counts.iter_mut().find(|(d, _)| *d == c) {
                    slot.1 += 1;
                }
            }
            _ => {}
        }
    }
    // `max_by_key` keeps the last maximum: scan in reverse so `,` wins ties.
    counts.iter().rev().max_by_key(|(_, n)| *n).filter(|(_, n)| *n > 0).map_or(',', |(d, _)| *d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BACK_IN_STOCK: &str = include_str!("../../tests/fixtures/import/back-in-stock.csv");
    const KLAVIYO: &str = include_str!("../../tests/fixtures/import/klaviyo.csv");

    /// 2024-03-01T00:00:00Z
    const MAR_1: i64 = 1_709_251_200_000;
    const HOUR: i64 = 3_600_000;

    fn plan(csv: &str) -> ImportPlan {
        parse_waitlist_csv(csv).unwrap_or_else(|e| panic!("{e}: {csv}"))
    }

    fn lines(rows: &[ImportRow]) -> Vec<usize> {
        rows.iter().map(|r| r.line).collect()
    }

    fn codes(rows: &[RejectedRow]) -> Vec<(usize, &'static str)> {
        rows.iter().map(|r| (r.line, r.code)).collect()
    }

    fn records(text: &str) -> Vec<(usize, Vec<String>)> {
        csv_records(text).map(|r| r.map(|r| (r.line, r.fields))).collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn csv_table() {
        type Case<'a> = (&'a str, &'a [(usize, &'a [&'a str])]);
        let cases: &[Case] = &[
            ("a,b\n1,2\n", &[(1, &["a", "b"]), (2, &["1", "2"])]),
            ("a,b\r\n1,2", &[(1, &["a", "b"]), (2, &["1", "2"])]),
            ("a,b\r1,2\r", &[(1, &["a", "b"]), (2, &["1", "2"])]),
            ("\u{feff}a,b\n", &[(1, &["a", "b"])]),
            ("\"x, y\",\"he said \"\"hi\"\"\"\n", &[(1, &["x, y", "he said \"hi\""])]),
            ("\"two\r\nlines\",z\nnext,row\n", &[(1, &["two\nlines", "z"]), (3, &["next", "row"])]),
            ("a,,c\n", &[(1, &["a", "", "c"])]),
            ("a,\"\"\n", &[(1, &["a", ""])]),
            ("a,b,\n", &[(1, &["a", "b", ""])]),
            ("\n\n,,\n  ,\t\na\n\n", &[(5, &["a"])]),
            ("a, \"b,c\" ,d\n", &[(1, &["a", "b,c ", "d"])]),
            ("5\"2,x\n", &[(1, &["5\"2", "x"])]),
            ("a;b;c\n1;\"2;3\";4\n", &[(1, &["a", "b", "c"]), (2, &["1", "2;3", "4"])]),
            ("a\tb\n1\t2,5\n", &[(1, &["a", "b"]), (2, &["1", "2,5"])]),
            ("a;b,c;d\n", &[(1, &["a", "b,c", "d"])]),
            ("sep=;\r\na;b\n1,5;2\n", &[(2, &["a", "b"]), (3, &["1,5", "2"])]),
            ("", &[]),
        ];
        for (text, want) in cases {
            let got = records(text);
            let want: Vec<(usize, Vec<String>)> =
                want.iter().map(|(l, f)| (*l, f.iter().map(|s| s.to_string()).collect())).collect();
            assert_eq!(got, want, "{text:?}");
        }
    }

    #[test]
    fn unclosed_quote_is_fatal() {
        let err = parse_waitlist_csv("Email,SKU,Date\na@b.co,\"X,2024-01-01\nc@d.co,Y,2024-01-01\n").unwrap_err();
        assert_eq!(err, ImportError::UnclosedQuote(2));
        assert_eq!(err.code(), "invalid_csv");
    }

    #[test]
    fn whole_file_errors() {
        let cases: &[(&str, &str)] = &[
            ("", "empty_file"),
            ("\u{feff}\r\n\r\n", "empty_file"),
            ("Phone,SKU,Date\n", "missing_column"),
            ("Email,Product,Date\na@b.co,Mug,2024-01-01\n", "missing_column"),
            ("Email,SKU\na@b.co,X\n", "missing_column"),
            ("Customer,Item,When\n", "missing_column"),
        ];
        for (text, code) in cases {
            assert_eq!(parse_waitlist_csv(text).map(|_| ()).unwrap_err().code(), *code, "{text:?}");
        }
        let missing = parse_waitlist_csv("Email,Date\n").unwrap_err();
        assert_eq!(missing, ImportError::MissingColumn("SKU or variant id", "\"SKU\" or \"Variant ID\""));
    }

    #[test]
    fn too_many_rows() {
        let mut text = String::from("Email,SKU,Date\n");
        for i in 0..MAX_ROWS {
            text.push_str(&format!("u{i}@example.com,X,2024-01-01\n"));
        }
        assert_eq!(plan(&text).rows.len(), MAX_ROWS);
        text.push_str("one@more.com,X,2024-01-01\n");
        assert_eq!(parse_waitlist_csv(&text).unwrap_err(), ImportError::TooManyRows);
        assert_eq!(ImportError::TooManyRows.code(), "too_many_rows");
    }

    #[test]
    fn header_aliases() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            (
                "E-mail Address,Variant SKU,Date Added",
                &[("email", "E-mail Address"), ("sku", "Variant SKU"), ("signup_date", "Date Added")],
            ),
            (
                "customer_email,variant_id,subscribed_at,SMS,Product Title,QTY,Language,SMS consent,STATUS",
                &[
                    ("email", "customer_email"),
                    ("phone", "SMS"),
                    ("variant_id", "variant_id"),
                    ("product", "Product Title"),
                    ("signup_date", "subscribed_at"),
                    ("quantity", "QTY"),
                    ("locale", "Language"),
                    ("sms_consent", "SMS consent"),
                    ("status", "STATUS"),
                ],
            ),
            // The preferred alias wins over the leftmost column; the leftmost wins among equals.
            (
                "Date,Email,Created At,Variant,Variant ID,email",
                &[("email", "Email"), ("variant_id", "Variant ID"), ("signup_date", "Created At")],
            ),
            (" EMAIL ,SKU,timestamp", &[("email", "EMAIL"), ("sku", "SKU"), ("signup_date", "timestamp")]),
        ];
        for (header, want) in cases {
            let got = plan(&format!("{header}\n")).columns;
            let got: Vec<(&str, &str)> = got.iter().map(|(f, h)| (*f, h.as_str())).collect();
            assert_eq!(got, *want, "{header}");
        }
    }

    #[test]
    fn signup_time_table() {
        let cases: &[(&str, Option<i64>)] = &[
            ("2024-03-01T00:00:00Z", Some(MAR_1)),
            ("2024-03-01T09:30:00+09:30", Some(MAR_1)),
            ("2024-03-01 05:00:00-05:00", Some(MAR_1 + 10 * HOUR)),
            ("2024-03-01 14:22:05", Some(MAR_1 + 14 * HOUR + 22 * 60_000 + 5_000)),
            ("2024-03-01T14:22:05.250", Some(MAR_1 + 14 * HOUR + 22 * 60_000 + 5_250)),
            ("2024-03-01 14:22", Some(MAR_1 + 14 * HOUR + 22 * 60_000)),
            ("2024-03-01 14:22 UTC", Some(MAR_1 + 14 * HOUR + 22 * 60_000)),
            ("2024-03-01T14:22Z", Some(MAR_1 + 14 * HOUR + 22 * 60_000)),
            ("2024-03-01", Some(MAR_1)),
            ("03/01/2024", Some(MAR_1)),
            ("3/1/2024", Some(MAR_1)),
            ("3/1/2024 7:30", Some(MAR_1 + 7 * HOUR + 30 * 60_000)),
            ("3/1/2024 7:30 PM", Some(MAR_1 + 19 * HOUR + 30 * 60_000)),
            ("3/1/2024 12:05 am", Some(MAR_1 + 5 * 60_000)),
            ("3/1/2024 12:05PM", Some(MAR_1 + 12 * HOUR + 5 * 60_000)),
            ("03/01/2024 23:59:59", Some(MAR_1 + DAY_MS - 1000)),
            ("02/29/2024", Some(MAR_1 - DAY_MS)),
            ("13/02/2024", None),
            ("02/30/2024", None),
            ("3/1/24", None),
            ("3/1/2024 13:00 PM", None),
            ("3/1/2024 0:00 AM", None),
            ("2024-03-01 24:00", None),
            ("2024-03-01 7:30 PM", None),
            ("2024-03-01 14:22:05.", None),
            ("2024-03-01X14:22", None),
            ("2024-3-1", None),
            ("1999-12-31", None),
            ("01.03.2024", None),
            ("March 1, 2024", None),
            ("1709251200", None),
            ("yesterday", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_signup_time(s), *want, "{s:?}");
        }
    }

    #[test]
    fn status_table() {
        let cases: &[(&str, &str)] = &[
            ("", "import"),
            ("Waiting", "import"),
            ("pending", "import"),
            ("Not sent", "import"),
            ("ACTIVE", "import"),
            ("sent", "already_notified"),
            ("Notified", "already_notified"),
            ("delivered", "already_notified"),
            ("Purchased", "already_notified"),
            ("unsubscribed", "unsubscribed"),
            ("Opted-out", "unsubscribed"),
            ("canceled", "cancelled"),
            ("Expired", "cancelled"),
            ("maybe", "unknown_status"),
            ("failed", "unknown_status"),
        ];
        for (status, want) in cases {
            let p = plan(&format!("Email,SKU,Date,Status\na@b.co,X,2024-01-01,{status}\n"));
            let got = match (p.rows.first(), p.skipped.first(), p.rejected.first()) {
                (Some(_), None, None) => "import",
                (None, Some(s), None) => s.code,
                (None, None, Some(r)) => r.code,
                other => panic!("{status:?}: {other:?}"),
            };
            assert_eq!(got, *want, "{status:?}");
        }
    }

    #[test]
    fn row_rejections_table() {
        let header = "Email,SKU,Variant ID,Date";
        let cases: &[(&str, Option<&str>)] = &[
            ("ada@example.com,X,,2024-01-01", None),
            ("ada@example.com,,123,2024-01-01", None),
            ("ada@example.com,,gid://shopify/ProductVariant/123,2024-01-01", None),
            (",X,,2024-01-01", Some("missing_email")),
            ("ada@,X,,2024-01-01", Some("invalid_email")),
            ("ada@example.com,,,2024-01-01", Some("missing_item")),
            ("ada@example.com,A B/2,,2024-01-01", None),
            ("ada@example.com,A\u{7}B,,2024-01-01", Some("invalid_sku")),
            ("ada@example.com,X,Small,2024-01-01", Some("invalid_variant_id")),
            ("ada@example.com,X,-5,2024-01-01", Some("invalid_variant_id")),
            ("ada@example.com,X,0,2024-01-01", Some("invalid_variant_id")),
            ("ada@example.com,X,,", Some("missing_date")),
            ("ada@example.com,X,,31/12/2024", Some("invalid_date")),
            // A short row: missing cells are empty.
            ("ada@example.com,X", Some("missing_date")),
        ];
        for (row, want) in cases {
            let p = plan(&format!("{header}\n{row}\n"));
            assert_eq!(p.rejected.first().map(|r| r.code), *want, "{row}");
            assert_eq!(p.rows.len() + p.rejected.len(), 1, "{row}");
        }
    }

    #[test]
    fn loose_variant_column_holds_titles() {
        let p = plan("Email,SKU,Variant,Date\na@b.co,X,Small / Red,2024-01-01\nc@d.co,,Small,2024-01-01\ne@f.co,,42,2024-01-01\n");
        assert_eq!(
            p.rows.iter().map(|r| (r.sku.as_deref(), r.variant_id)).collect::<Vec<_>>(),
            [(Some("X"), None), (None, Some(42))]
        );
        assert_eq!(codes(&p.rejected), [(3, "missing_item")]);
    }

    #[test]
    fn optional_fields_warn_but_import() {
        let p = plan(concat!(
            "Email,SKU,Date,Phone,Quantity,Locale,SMS Consent\n",
            "a@b.co,X,2024-01-01,+44 (0) 7700-900.123,2,de-CH,yes\n",
            "b@b.co,X,2024-01-01,0044 7700 900123,3.0,,TRUE\n",
            "c@b.co,X,2024-01-01,07700 900123,0,en gb,yes\n",
            "d@b.co,X,2024-01-01,,250,fr,yes\n",
            "e@b.co,X,2024-01-01,+15550100,two,,no\n",
        ));
        let got: Vec<(Option<&str>, u32, Option<&str>, bool)> =
            p.rows.iter().map(|r| (r.phone.as_deref(), r.quantity, r.locale.as_deref(), r.sms_consent)).collect();
        assert_eq!(
            got,
            [
                (Some("+447700900123"), 2, Some("de-CH"), true),
                (Some("+447700900123"), 3, None, true),
                (None, 1, None, false),
                (None, MAX_QUANTITY, Some("fr"), false),
                (Some("+15550100"), 1, None, false),
            ]
        );
        assert_eq!(
            codes(&p.warnings),
            [
                (4, "invalid_phone"),
                (4, "invalid_quantity"),
                (4, "invalid_locale"),
                (5, "invalid_quantity"),
                (6, "invalid_quantity")
            ]
        );
    }

    #[test]
    fn order_and_duplicates_table() {
        // (rows after the header, kept lines in order, duplicates (line, kept line))
        type Case<'a> = (&'a [&'a str], &'a [usize], &'a [(usize, usize)]);
        let cases: &[Case] = &[
            (&["a@x.io,S,2024-01-03", "b@x.io,S,2024-01-01", "c@x.io,S,2024-01-02"], &[3, 4, 2], &[]),
            (&["a@x.io,S,2024-01-01", "b@x.io,S,2024-01-01", "c@x.io,S,2024-01-01"], &[2, 3, 4], &[]),
            (&["a@x.io,S,2024-01-02", "A@X.IO,S,2024-01-01"], &[3], &[(2, 3)]),
            (&["a@x.io,S,2024-01-01", "a@x.io,S,2024-01-01"], &[2], &[(3, 2)]),
            (&["a@x.io,S,2024-01-01", "a@x.io,T,2024-01-01", "a+1@x.io,S,2024-01-01"], &[2, 3, 4], &[]),
            (
                &["a@x.io,S,2024-01-05", "a@x.io,S,2024-01-04", "a@x.io,S,2024-01-06", "b@x.io,S,2024-01-05"],
                &[3, 5],
                &[(2, 3), (4, 3)],
            ),
            // Bad rows take no part in duplicate detection.
            (&["a@x.io,,2024-01-01", "a@x.io,S,2024-01-02"], &[3], &[]),
        ];
        for (rows, kept, dups) in cases {
            let p = plan(&format!("Email,SKU,Date\n{}\n", rows.join("\n")));
            assert_eq!(lines(&p.rows), *kept, "{rows:?}");
            let got: Vec<(usize, usize)> = p.duplicates.iter().map(|d| (d.line, d.kept_line)).collect();
            assert_eq!(got, *dups, "{rows:?}");
        }
    }

    #[test]
    fn duplicates_by_variant_when_there_is_no_sku() {
        let p = plan("Email,SKU,Variant ID,Date\na@x.io,,7,2024-01-02\na@x.io,,7,2024-01-01\na@x.io,S,7,2024-01-03\n");
        assert_eq!(lines(&p.rows), [3, 4], "a SKU row is keyed by its SKU");
        assert_eq!(p.duplicates, [DuplicateRow { line: 2, kept_line: 3 }]);
    }

    #[test]
    fn back_in_stock_fixture() {
        let p = plan(BACK_IN_STOCK);
        assert_eq!(lines(&p.rows), [7, 3, 10, 5, 8, 11]);
        assert_eq!(p.duplicates, [DuplicateRow { line: 2, kept_line: 5 }]);
        assert_eq!(codes(&p.rejected), [(4, "invalid_email")]);
        assert_eq!(p.rows[2].sku.as_deref(), Some("BAD SKU!"), "a SKU with a space and a '!' is a SKU");
        assert_eq!(codes(&p.skipped), [(6, "already_notified"), (9, "unsubscribed")]);
        assert_eq!(codes(&p.warnings), [(8, "invalid_phone")]);

        let margaret = &p.rows[0];
        assert_eq!(margaret.product.as_deref(), Some("Mug \"Classic\""));
        assert_eq!((margaret.sku.as_deref(), margaret.variant_id), (Some("MUG-1"), None), "Variant holds titles here");
        assert_eq!(margaret.signed_up_at_ms, 1_705_276_800_000);
        assert_eq!(margaret.locale.as_deref(), Some("fr"));
        let grace = &p.rows[1];
        assert_eq!((grace.quantity, grace.sms_consent), (2, false));
        assert_eq!(grace.product.as_deref(), Some("Example T-Shirt, organic"));
        assert_eq!(p.rows[3].email, "Ada@Example.com");
        let (alan, katherine) = (&p.rows[4], &p.rows[5]);
        assert_eq!(alan.signed_up_at_ms, katherine.signed_up_at_ms, "a tie, broken by line");
        assert_eq!((alan.phone.as_deref(), alan.sms_consent, alan.quantity), (None, false, 3));
        assert_eq!((katherine.phone.as_deref(), katherine.sms_consent), (Some("+16135550199"), true));
        assert_eq!(
            p.columns.iter().map(|(f, h)| (*f, h.as_str())).collect::<Vec<_>>(),
            [
                ("email", "Email"),
                ("phone", "Phone"),
                ("sku", "SKU"),
                ("variant_id", "Variant"),
                ("product", "Product"),
                ("signup_date", "Created At"),
                ("quantity", "Quantity"),
                ("locale", "Locale"),
                ("sms_consent", "Accepts SMS Marketing"),
                ("status", "Status")
            ]
        );
    }

    #[test]
    fn klaviyo_fixture() {
        let p = plan(KLAVIYO);
        assert_eq!(lines(&p.rows), [7, 3, 10, 6, 2]);
        assert_eq!(p.duplicates, [DuplicateRow { line: 5, kept_line: 2 }]);
        assert_eq!(codes(&p.rejected), [(4, "invalid_email"), (9, "missing_item")]);
        assert!(p.skipped.is_empty() && p.warnings.is_empty());

        let margaret = &p.rows[0];
        assert_eq!(margaret.product.as_deref(), Some("Mug \"Classic\"\n(350 ml)"));
        assert_eq!((margaret.sku.as_deref(), margaret.variant_id), (None, Some(868_761_595_755_314_973)));
        let (grace, barbara, linus, ada) = (&p.rows[1], &p.rows[2], &p.rows[3], &p.rows[4]);
        assert_eq!(grace.signed_up_at_ms, MAR_1 + 19 * HOUR + 22 * 60_000 + 5_000);
        assert_eq!(barbara.signed_up_at_ms, grace.signed_up_at_ms);
        assert_eq!(barbara.variant_id, Some(757_650_484_644_203_962));
        assert_eq!(linus.signed_up_at_ms, MAR_1 + 19 * HOUR + 30 * 60_000);
        assert_eq!(
            (linus.phone.as_deref(), linus.sms_consent, linus.locale.as_deref()),
            (Some("+358401234567"), true, Some("fi"))
        );
        assert_eq!((ada.phone.as_deref(), ada.sms_consent), (Some("+447700900123"), true));
        assert!(p.rows.iter().all(|r| r.quantity == 1));
    }

    fn quote(field: &str) -> String {
        format!("\"{}\"", field.replace('"', "\"\""))
    }

    proptest! {
        #[test]
        fn csv_round_trip(
            rows in prop::collection::vec(prop::collection::vec("[a-z ,;\"\\n]{0,6}", 1..5), 1..8),
            crlf in any::<bool>(),
        ) {
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut text = String::new();
            let mut want = Vec::new();
            let mut line = 1;
            for row in &rows {
                // A leading marker keeps every record non-blank.
                let fields: Vec<String> = std::iter::once("k".to_owned()).chain(row.iter().cloned()).collect();
                let written: Vec<String> = fields.iter().map(|f| quote(&f.replace('\n', eol))).collect();
                text.push_str(&written.join(","));
                text.push_str(eol);
                want.push(CsvRecord { line, fields });
                line += 1 + row.iter().map(|f| f.matches('\n').count()).sum::<usize>();
            }
            let got: Vec<CsvRecord> = csv_records(&text).collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn reader_never_panics(text in "\\PC{0,80}") {
            let _ = parse_waitlist_csv(&text);
            let _ = parse_waitlist_csv(&format!("Email,SKU,Date,Phone,Quantity,Status\n{text}"));
        }

        #[test]
        fn signup_order_and_earliest_duplicate(
            rows in prop::collection::vec((0..4usize, 0..3usize, 0..4i64, 0..3i64), 0..40),
        ) {
            let mut text = String::from("Email,SKU,Created At\n");
            for (email, sku, day, hour) in &rows {
                text.push_str(&format!("u{email}@example.com,S{sku},2024-01-0{} 0{hour}:00:00\n", day + 1));
            }
            let p = parse_waitlist_csv(&text).unwrap();
            let at = |line: usize| {
                let (_, _, day, hour) = rows[line - 2];
                1_704_067_200_000 + day * DAY_MS + hour * HOUR
            };
            let key = |line: usize| (rows[line - 2].0, rows[line - 2].1);

            // Every row is kept or a duplicate; nothing is rejected.
            prop_assert_eq!(p.rows.len() + p.duplicates.len(), rows.len());
            prop_assert!(p.rejected.is_empty() && p.skipped.is_empty());
            // Signup order: by time, ties by line.
            for pair in p.rows.windows(2) {
                prop_assert!((pair[0].signed_up_at_ms, pair[0].line) < (pair[1].signed_up_at_ms, pair[1].line));
            }
            for row in &p.rows {
                prop_assert_eq!(row.signed_up_at_ms, at(row.line));
            }
            // One row per (email, SKU), and it is the earliest signup of that key.
            let mut seen = std::collections::HashSet::new();
            for row in &p.rows {
                prop_assert!(seen.insert(key(row.line)));
                let earliest = (2..rows.len() + 2).filter(|&l| key(l) == key(row.line)).min_by_key(|&l| (at(l), l));
                prop_assert_eq!(earliest, Some(row.line));
            }
            for dup in &p.duplicates {
                prop_assert_eq!(key(dup.line), key(dup.kept_line));
                prop_assert!((at(dup.kept_line), dup.kept_line) < (at(dup.line), dup.line));
            }
        }

        #[test]
        fn kept_signups_do_not_depend_on_file_order(
            rows in prop::collection::vec((0..3usize, 0..2usize, 0..3i64), 1..20),
            seed in any::<u64>(),
        ) {
            let csv = |order: &[(usize, usize, i64)]| {
                let body: Vec<String> =
                    order.iter().map(|(e, s, d)| format!("u{e}@example.com,S{s},2024-01-0{}", d + 1)).collect();
                format!("Email,SKU,Date\n{}\n", body.join("\n"))
            };
            let mut shuffled = rows.clone();
            // A cheap deterministic shuffle (Fisher–Yates with an LCG).
            let mut state = seed;
            for i in (1..shuffled.len()).rev() {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                shuffled.swap(i, (state >> 33) as usize % (i + 1));
            }
            let summary = |p: ImportPlan| {
                let mut kept: Vec<(i64, String, Option<String>)> =
                    p.rows.into_iter().map(|r| (r.signed_up_at_ms, r.email, r.sku)).collect();
                kept.sort();
                kept
            };
            prop_assert_eq!(summary(plan(&csv(&rows))), summary(plan(&csv(&shuffled))));
        }
    }
}
