// The researchers' page (docs/web.md): builds a Beacon v2 request from what a researcher
// types, sends it to this node (/api) or, when the node has peers, to the network
// (/network/api), and shows one row per dataset, each unavailable node with its reason,
// variants with their population frequencies, and exports what is shown. Sign-in: the
// authorization-code flow with PKCE against the network's trusted OIDC provider; the token
// stays in this page's memory (never in a URL or in storage) and is forgotten on sign-out.
"use strict";

const SEX_TERMS = new Set(["NCIT:C16576", "NCIT:C20197", "NCIT:C17998", "NCIT:C45908"]);
const ONSET = "diseases.ageOfOnset.iso8601duration";
const GRANULARITY_RANK = { boolean: 0, count: 1, record: 2 };
const PENDING_KEY = "gdi-web-sign-in";       // sessionStorage: the PKCE verifier, state and form, never a token

const state = {
  config: null, base: "/api", peers: [], token: null, subject: null, issuer: null,
  issuers: [], scope: null, catalogue: new Map(), terms: [], shown: null, searches: 0,
  asking: null,        // the AbortController of the latest search (and its record pages)
  askingKey: null,     // the request of the search running (requestKey), null when none runs
  refusedKey: null,    // the request Search again asks (refused: 429, 503, no answer), or null
  askAgain: false,     // sign-out cleared a search's answer, or abandoned it: sign-in asks it again
  findingInCatalogue: null,   // the AbortController of the latest catalogue search
  // the nodes whose datasets or terms the lists lack (could not answer when asked; true: the
  // list was refused whole), null when read whole: asked again once one answers (relist)
  catalogueLacks: null, termsLacks: null,
  catalogueRefused: null, termsRefused: null,   // why a list was refused (refusedWords)
  withdrawn: null,     // the lists sign-out could not ask again, and why (sayWithdrawn), or null
};

// ---------------------------------------------------------------- small DOM helpers
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === "") continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---------------------------------------------------------------- what researchers type
const CHROM = "(?:chr)?([0-9]{1,2}|X|Y|MT|M)";
const NUMBER = "(\\d[\\d,_]*)";
const VARIANT = new RegExp(
  `^${CHROM}\\s*[-:_\\s]\\s*${NUMBER}\\s*[-:_\\s]\\s*([ACGTN]+)\\s*(?:>|-|/|:|_|\\s)\\s*([ACGTN]+)$`, "i");
const REGION = new RegExp(`^${CHROM}\\s*:\\s*${NUMBER}\\s*(?:-|–|\\.\\.)\\s*${NUMBER}$`, "i");
const HGVS = /^(\S+):g\.(\S+)$/;
// A gene as the node reads one (an HGNC symbol or id, an Ensembl id; at most 31 characters,
// an id of at most 6 digits: beacon/request.py), and what follows it, a protein change;
// in any case, as the node reads it (`hgnc:11998` was refused here). A symbol may start
// with a digit (Ensembl's and SnpEff's 7SK, 5S_rRNA), which the box refused...
const GENE = /^(HGNC:\d{1,6}|[A-Za-z0-9][A-Za-z0-9._-]{0,30})(?:\s+(\S+))?$/i;
// ... but not digits alone (17, a chromosome; 7674944, a position) nor a chromosome and a
// position (17-7674944, 17-7674944-G: a variant missing its alleles), which the node would
// look for as genes and find none of: they stay errors, as they were.
const NOT_A_GENE = /^(?:\d+|\d{1,2}[-_.]\d+(?:[-_.].*)?)$/;
// The chromosomes the node knows on either assembly (beacon/assemblies.py).
const CHROMOSOMES = new Set([...Array.from({ length: 22 }, (_, i) => String(i + 1)), "X", "Y", "MT"]);

const toInt = (digits) => parseInt(digits.replace(/[,_]/g, ""), 10);
const chrom = (name) => (name.toUpperCase() === "M" ? "MT" : name.toUpperCase());
// The node's largest position (PostgreSQL's integer: beacon/limits.py). One beyond it is
// refused here: it would be sent without its last digits (1e+23), past what parseInt keeps.
const MAX_POSITION = 2147483647;
const TOO_FAR = `A position is at most ${MAX_POSITION} (the largest the node reads).`;

// A protein change in the case the node reads: one-letter amino acids upper case (R175H),
// three-letter ones capitalised (p.Arg175His); people type r175h and p.arg175his too.
function proteinChange(typed) {
  const [, prefix, change] = /^(p\.\(?)?(.*)$/.exec(typed);
  return (prefix || "") + change.replace(/[A-Za-z]+/g, (letters) =>
    letters.length === 1 ? letters.toUpperCase()
      : letters.length === 3 ? letters[0].toUpperCase() + letters.slice(1).toLowerCase() : letters);
}

// The node's reading of a protein change (beacon/annotations.py, normalise_aminoacid_change),
// so that the page sends what it reads and no more: missense, nonsense, synonymous,
// frameshift, extension, deletion, duplication, insertion and delins, with one- or
// three-letter amino acids. The page read missense changes alone, and refused the rest
// (BRCA1 p.Glu23ValfsTer17) while it sent changes the node refuses (Q175Z).
const AMINO_ACIDS = ["Ala", "Arg", "Asn", "Asp", "Cys", "Gln", "Glu", "Gly", "His", "Ile", "Leu",
                     "Lys", "Met", "Phe", "Pro", "Ser", "Thr", "Trp", "Tyr", "Val", "Sec", "Pyl", "Ter"];
const CHANGE_KINDS = { delins: "x", del: "d", ins: "i", dup: "u", fs: "f", ext: "e" };
const CHANGE_KEYWORD = "(delins|del|ins|dup|fs|ext)", CHANGE_NUMBER = "(-?[0-9]+)|([_=?])";
const THREE_LETTER_TOKEN = new RegExp(`(${AMINO_ACIDS.join("|")}|\\*)|${CHANGE_KEYWORD}|${CHANGE_NUMBER}`, "y");
const ONE_LETTER_TOKEN = new RegExp(`${CHANGE_KEYWORD}|([ARNDCQEGHILKMFPSTWYVUO*X])|${CHANGE_NUMBER}`, "y");
// one letter per token: a amino acid, n position, m negative offset, and CHANGE_KINDS
const CHANGE_SHAPE = /^(?:an(?:a|=|\?|a?f(?:a[n?])?|a?e(?:a?[nm?])?|d|u|xa+)|an_an(?:d|u|xa+|i(?:a+|n)))$/;

function readsAsProteinChange(text) {
  let body = text.slice(text.lastIndexOf(":") + 1);
  if (body.startsWith("p.")) body = body.slice(2);
  if (body.startsWith("(") && body.endsWith(")")) body = body.slice(1, -1);
  const word = /[A-Z][a-z]{2}/.exec(body);
  const three = Boolean(word) && AMINO_ACIDS.includes(word[0]);
  const token = three ? THREE_LETTER_TOKEN : ONE_LETTER_TOKEN;
  let shape = "";
  token.lastIndex = 0;
  while (body && token.lastIndex < body.length) {
    const m = token.exec(body);
    if (!m) return false;
    const [amino, keyword] = three ? [m[1], m[2]] : [m[2], m[1]];
    shape += amino ? "a" : keyword ? CHANGE_KINDS[keyword] : m[3] ? (m[3].startsWith("-") ? "m" : "n") : m[4];
  }
  return CHANGE_SHAPE.test(shape);
}

// The request parameters a typed text means, and how it was read (for the page to say);
// an error message when it means nothing the page knows.
function parseQuery(text) {
  const typed = text.trim();
  if (!typed) return { params: {}, reading: "" };
  let m = VARIANT.exec(typed) || REGION.exec(typed);
  if (m && !CHROMOSOMES.has(chrom(m[1]))) {
    return { error: `There is no chromosome ${m[1]}: the node knows 1 to 22, X, Y and MT.` };
  }
  m = VARIANT.exec(typed);
  if (m) {
    const pos = toInt(m[2]);
    if (pos < 1) return { error: "A position counts from 1." };
    if (pos > MAX_POSITION) return { error: TOO_FAR };
    const params = { referenceName: chrom(m[1]), start: String(pos - 1),
                     referenceBases: m[3].toUpperCase(), alternateBases: m[4].toUpperCase() };
    return { params, reading: `Variant: chromosome ${params.referenceName}, POS ${pos} ` +
             `(Beacon start ${pos - 1}), ${params.referenceBases} > ${params.alternateBases}` };
  }
  m = REGION.exec(typed);
  if (m) {
    const first = toInt(m[2]), last = toInt(m[3]);
    if (last > MAX_POSITION || first > MAX_POSITION) return { error: TOO_FAR };
    if (first < 1 || last < first) return { error: "A region goes from a position ≥ 1 to one at or after it." };
    const params = { referenceName: chrom(m[1]), start: String(first - 1), end: String(last) };
    return { params, reading: `Region: chromosome ${params.referenceName}, positions ` +
             `${first} to ${last} (Beacon start ${first - 1}, end ${last}, 0-based half-open)` };
  }
  m = HGVS.exec(typed);
  if (m) {
    return { params: { genomicAlleleShortForm: typed },
             reading: `Genomic HGVS: ${typed} (HGVS positions are 1-based; the node converts)` };
  }
  m = GENE.exec(typed);
  if (m && !NOT_A_GENE.test(m[1])) {
    if (/^rs\d+$/i.test(typed)) return { error: "dbSNP rs ids are not searchable here: type the variant or its region." };
    const params = { geneId: m[1].toUpperCase() };
    if (m[2]) {
      // as typed when the node reads it so (K132del); else in the case it reads (r175h)
      const change = [m[2], proteinChange(m[2])].find(readsAsProteinChange);
      if (!change) {
        return { error: `${m[2]} is not a protein change the node reads (such as R175H, ` +
                        "p.Arg175His, p.Arg213Ter, p.Glu23ValfsTer17, p.Lys132del)." };
      }
      params.aminoacidChange = change;
    }
    return { params, reading: `Gene ${params.geneId}` +
             (m[2] ? `, protein change ${params.aminoacidChange}` : "") };
  }
  return { error: "Not a variant, region or gene the page can read: see the examples below the box." };
}

// ---------------------------------------------------------------- what peers send
// The network checks a peer's answer for its shape (ids, counts, lists of records), not every
// field this page reads: a dataset named 42, an access level 3, a countAdjustedTo "rounded up"
// pass through. Each is read here as absent, shown empty or "not available", so the rest of
// the answer is drawn (each threw, and a search's answer was never shown).
const textOf = (value) => (typeof value === "string" ? value : "");
const textsOf = (value) => (Array.isArray(value) ? value.filter((v) => typeof v === "string") : []);
const objectOf = (value) => (value && typeof value === "object" && !Array.isArray(value) ? value : {});
// A value written as it is when text or a number, else as absent: records pass the network
// as their peer sent them, and String() of an object such as {"toString": 1} throws, which
// cleared the whole network's answer over one peer's record.
const shownOf = (value) => (typeof value === "string" ? value
  : typeof value === "number" && Number.isFinite(value) ? String(value) : "");

// ---------------------------------------------------------------- the Beacon request
function entryType() {
  return document.querySelector('input[name="entry"]:checked').value;
}

// What the form means as a Beacon request; or, when it means none, the error and the id of
// the field to correct (focused and marked aria-invalid, so a keyboard or screen-reader user
// lands on the field that is wrong, not on the query box whatever it was).
function buildRequest() {
  const entry = entryType();
  const parsed = parseQuery($("q").value);
  if (parsed.error) return { error: parsed.error, field: "q" };
  const params = { ...parsed.params };
  if (entry === "g_variants" && !Object.keys(params).length) {
    return { error: "Type a variant, a region or a gene.", field: "q" };
  }
  if (Object.keys(params).length && !params.genomicAlleleShortForm) params.assemblyId = $("assembly").value;
  if ($("variant-type").value && Object.keys(params).length) params.variantType = $("variant-type").value;
  const granularity = $("granularity").value;
  const limitText = $("limit").value.trim();
  if (!/^\d{1,4}$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > 1000) {
    return { error: "Records per page: a whole number from 1 to 1000.", field: "limit" };
  }
  const limit = Number(limitText);
  const filters = [];
  let getFilters = true;
  if (entry === "individuals") {
    if ($("sex").value) filters.push({ id: $("sex").value });
    if ($("term").value) {
      const descend = $("descendants").checked;
      filters.push(descend ? { id: $("term").value }
                           : { id: $("term").value, includeDescendantTerms: false });
      if (!descend) getFilters = false;
    }
    const op = $("onset-op").value, years = $("onset-years").value.trim();
    if (op || years) {
      if (!op || !/^\d{1,3}$/.test(years)) {
        return { error: "Age of onset needs a comparison and a whole number of years.",
                 field: op ? "onset-years" : "onset-op" };
      }
      filters.push({ id: ONSET, operator: op, value: `P${years}Y` });
      getFilters = false;
    }
  }
  // A node may refuse individual-level queries without a declared purpose of use
  // (docs/beacon.md); it goes in the body's meta, so such a request has no GET URL. The node
  // takes printable text alone: each run of spaces (a tab, a no-break space) is sent as one
  // space, and an invisible character is the field's error (each was sent, and refused).
  const purpose = entry === "individuals" ? $("purpose").value.replace(/\s+/g, " ").trim() : "";
  const invisible = /[\p{C}]/u.exec(purpose);
  if (invisible) {
    const code = invisible[0].codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
    return { error: `Purpose of use: it holds an invisible character (U+${code}); type it again.`,
             field: "purpose" };
  }
  if (purpose) getFilters = false;
  const path = state.scope
    ? `${state.base}/datasets/${encodeURIComponent(state.scope.id)}/${entry}`
    : `${state.base}/${entry}`;
  const query = new URLSearchParams({ ...params, requestedGranularity: granularity,
                                      includeResultsetResponses: "ALL", limit: String(limit) });
  if (filters.length && getFilters) query.set("filters", filters.map((f) => f.id).join(","));
  const getUrl = getFilters ? `${location.origin}${path}?${query}` : null;
  const body = { meta: { apiVersion: "v2.0", ...(purpose ? { purposeOfUse: purpose } : {}) },
                 query: { requestParameters: params, filters,
                          requestedGranularity: granularity,
                          includeResultsetResponses: "ALL", pagination: { skip: 0, limit } } };
  // Variants go as GET (a link one can share); individuals with filters as POST.
  const method = entry === "g_variants" && getUrl ? "GET" : "POST";
  return { entry, params, filters, granularity, limit, path, getUrl, body, method,
           postUrl: `${location.origin}${path}`, scope: state.scope };
}

function showRequest(req) {
  $("request").hidden = false;
  $("get-url").textContent = req.getUrl ||
    "(not expressible as GET: a filter with an operator or without narrower terms, and a purpose of use, go in the POST body)";
  $("post-url").textContent = req.postUrl;
  $("post-body").textContent = JSON.stringify(req.body, null, 2);
  $("get-url").parentElement.dataset.sent = req.method === "GET" ? "sent" : "";
  $("post-url").parentElement.dataset.sent = req.method === "POST" ? "sent" : "";
}

// options.signal (an AbortSignal) cancels the call, the reading of its body too: it rejects
// then, so an answer no longer wanted (a search superseded by a later one) is never shown.
async function callApi(url, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  const response = await fetch(url, { ...options, headers, credentials: "omit",
                                      cache: "no-store", referrerPolicy: "no-referrer" });
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (options.signal) options.signal.throwIfAborted();
  return { response, body };
}

// Retry-After: seconds or an HTTP date; the wait in seconds (null when absent or unreadable).
function retryAfterSeconds(response) {
  const value = (response.headers.get("Retry-After") || "").trim();
  if (/^\d+$/.test(value)) return Number(value);
  const at = value ? Date.parse(value) : NaN;
  return Number.isNaN(at) ? null : Math.max(0, Math.round((at - Date.now()) / 1000));
}

function waitWords(seconds) {
  if (seconds < 90) return `${seconds} second${seconds === 1 ? "" : "s"}`;
  if (seconds < 90 * 60) return `about ${Math.round(seconds / 60)} minutes`;
  if (seconds < 48 * 3600) return `about ${Math.round(seconds / 3600)} hours`;
  return `about ${Math.round(seconds / 86400)} days`;
}

// The moment to try again at, with its day when that is not today: a budget's window may
// be days long (up to a year), and the time of day alone read as today.
function retryWords(response) {
  const seconds = retryAfterSeconds(response);
  if (seconds === null) return "Try again later.";
  const at = new Date(Date.now() + 1000 * seconds);
  const when = at.toDateString() === new Date().toDateString() ? at.toLocaleTimeString()
    : `${at.toLocaleDateString()} ${at.toLocaleTimeString()}`;
  return `Try again after ${when} (in ${waitWords(seconds)}; the node's Retry-After: ${seconds} s).`;
}

// Another's message ending a sentence of the page's: a full stop added only where it has no
// end of its own ("." "!" "?", a closing quote or bracket after it). Many services end their
// messages with one, and the page showed "… not a chromosome.." and "… back soon?.".
const sentence = (text) => (/[.!?…]["'”’)\]]*$/.test(text) ? text : `${text}.`);

function refusalText(response, body) {
  const message = body && body.error && body.error.errorMessage;
  switch (response.status) {
    case 400: return `The node refused the request: ${sentence(message || "bad request")}`;
    case 401: return "Your sign-in is no longer valid (expired or not trusted here): sign in again." +
      (message ? ` (${message})` : "");
    case 429: return "Query budget spent (429): this node answers each caller a limited number of " +
      "queries per dataset in a time window, so that answers cannot be combined to learn about " +
      "the people in its data. Nothing was searched: this is not \"not found\". " +
      retryWords(response) +
      (!state.token && state.issuers.some((i) => i.discovery) ? " Signed-in researchers may have a larger budget." : "") +
      (message ? ` (The node says: ${sentence(message)})` : "");
    case 503: return "The node is unavailable for now (503): its database, every peer of its " +
      "network or your sign-in service cannot be reached, or it is restarting. Nothing was " +
      "searched: this is not \"not found\". " + retryWords(response) +
      (message ? ` (The node says: ${sentence(message)})` : "");
    default: return `The node answered ${response.status}: ${sentence(message || response.statusText)}`;
  }
}

// ---------------------------------------------------------------- counts in plain words
// A count without countPrecision (any plain Beacon v2.0 node: the field is this framework's
// addition) says nothing of its precision, so the page claims none.
function countWords(count, precision, adjusted) {
  const notes = textsOf(adjusted);
  if (!precision) return { text: String(count), note: "" };
  if (precision === "exact" || !notes.length) return { text: String(count), note: precision };
  const lump = notes.map((a) => /^1 to (\d+) reported as (\d+)$/.exec(a)).find(Boolean);
  const floor = notes.map((a) => /^fewer than (\d+) reported as 0$/.exec(a)).find(Boolean);
  // a smooth floor: sets from the floor up to its top may be reported as 0 too
  const band = notes.map((a) => /^(\d+) to (\d+) reported as 0 at random/.exec(a)).find(Boolean);
  const step = notes.map((a) => /multiple of (\d+)/.exec(a)).find(Boolean);
  const noise = notes.find((a) => a.startsWith("noise"));
  if (lump && count === Number(lump[2])) {
    return { text: `at most ${lump[1]}`, note: `small counts (1 to ${lump[1]}) are all reported as ${lump[2]}` };
  }
  if (band && count === 0) {
    const top = Number(band[2]) + 1;
    return { text: `fewer than ${top}`,
             note: `fewer than ${floor ? floor[1] : band[1]} are always reported as 0, ` +
                   `${band[1]} to ${band[2]} sometimes (the fewer, the more often)` };
  }
  if (floor && count === 0) {
    return { text: `fewer than ${floor[1]}`, note: `fewer than ${floor[1]} are reported as 0` };
  }
  if (noise) {
    return { text: `about ${count}`, note: "noise added" + (step ? `, rounded up to a multiple of ${step[1]}` : "") };
  }
  if (step) {
    const size = Number(step[1]);
    return { text: count > 0 ? `${Math.max(1, count - size + 1)} to ${count}` : "0",
             note: `rounded up to a multiple of ${size}` };
  }
  return { text: String(count), note: notes.join("; ") };
}

// The values a count reported so may stand for, [least, most], or null where its words
// do not bound it (noise, an adjustment the page does not read, no stated precision).
function countBounds(count, precision, adjusted) {
  if (typeof count !== "number") return null;
  const notes = textsOf(adjusted);
  if (precision === "exact") return [count, count];
  if (!precision || !notes.length) return null;
  const lump = notes.map((a) => /^1 to (\d+) reported as (\d+)$/.exec(a)).find(Boolean);
  const floor = notes.map((a) => /^fewer than (\d+) reported as 0$/.exec(a)).find(Boolean);
  const band = notes.map((a) => /^(\d+) to (\d+) reported as 0 at random/.exec(a)).find(Boolean);
  const step = notes.map((a) => /multiple of (\d+)/.exec(a)).find(Boolean);
  if (lump && count === Number(lump[2])) return [1, Number(lump[1])];
  if (band && count === 0) return [0, Number(band[2])];
  if (floor && count === 0) return [0, Number(floor[1]) - 1];
  if (notes.some((a) => a.startsWith("noise"))) return null;
  if (step) return count > 0 ? [Math.max(1, count - Number(step[1]) + 1), count] : [0, 0];
  return null;
}

// The total in the status line. A node's (or network's) total is the sum of its datasets'
// counts, each adjusted, and states the adjustment of one ("next multiple of 5"): worded as
// one count, two datasets' "1 to 5" made a total "6 to 10", at least 6 where they hold 2
// at least (found by a review, 2026-12-07). A total of several adjusted counts is worded as
// the sum of what each may be, from the rows shown, or, where one is not bounded, as the
// sum it is ("about" it with noise), its adjustments left to each row.
function totalWords(summary, rows) {
  const total = summary.numTotalResults;
  if (typeof total !== "number") return null;
  const parts = rows.filter((r) => r.status === "answered" && typeof r.count === "number");
  if (summary.countPrecision === "exact" || !summary.countPrecision || parts.length < 2) {
    return countWords(total, summary.countPrecision, summary.countAdjustedTo);
  }
  const bounds = parts.map((r) => r.bounds);
  const sum = parts.reduce((n, r) => n + r.count, 0);
  if (sum !== total || bounds.some((b) => !b)) {
    const noisy = textsOf(summary.countAdjustedTo).some((a) => a.startsWith("noise"));
    return { text: noisy ? `about ${total}` : String(total),
             note: "a sum of counts adjusted as each dataset's line says" };
  }
  const least = bounds.reduce((n, b) => n + b[0], 0), most = bounds.reduce((n, b) => n + b[1], 0);
  return { text: least === most ? String(least) : `${least} to ${most}`,
           note: `the sum of ${parts.length} datasets' counts, each as its line says` };
}

// Where to ask for access, from the dataset's record (its metadata as /datasets gives it in
// `info`): only what the record states, only http(s) links and a plain e-mail address: none
// of ? # & % / , ; that a mailto: link reads as more (`dac@x.org?bcc=spy%40evil.test&body=…`
// passed as an address and made a link with a hidden copy and text).
const EMAIL = /^[A-Za-z0-9.!$'*+=^_`{}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;

function webLink(value) {
  if (typeof value !== "string") return null;
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch (_) { return null; }
}

function accessLinks(info) {
  const links = [];
  const request = webLink(info.dataAccessRequest);
  if (request) links.push({ label: "Request access", href: request, kind: "request" });
  if (typeof info.contactEmail === "string" && EMAIL.test(info.contactEmail)) {
    links.push({ label: info.contactEmail, href: `mailto:${info.contactEmail}`, kind: "contact" });
  }
  return links;
}

function whyNotMore(requested, given, dataset) {
  if (!given || GRANULARITY_RANK[given] >= GRANULARITY_RANK[requested]) return { text: "" };
  const level = dataset ? dataset.accessLevel : null;
  const links = dataset ? dataset.accessLinks : [];
  if (!state.token && level && level !== "PUBLIC") {
    return { text: `${level.toLowerCase()} access: sign in for more`, action: "sign-in", links };
  }
  if (level === "CONTROLLED") {
    return { text: "controlled access: request access to this dataset for records", links };
  }
  // signed in and still yes or no: bona fide status (which counts need) is what is missing
  if (level === "REGISTERED") {
    return { text: given === "boolean" ? "registered access: counts for registered (bona fide) " +
      "researchers; your sign-in shows no such status" : "registered access: counts at most", links };
  }
  return { text: "limited by the node's disclosure rules" };
}

// ---------------------------------------------------------------- results
function datasetOf(beaconId, id) {
  return state.catalogue.get(`${beaconId}|${id}`) || state.catalogue.get(`|${id}`) || null;
}

// The dataset an answer without result sets (yes or no for all a node's datasets) is
// about, when the page can tell: the one searched only, or the node's only dataset listed.
function onlyDatasetOf(req, node) {
  if (req.scope) return req.scope.node === node ? req.scope : null;
  const listed = [...state.catalogue.values()].filter((d) => d.node === node);
  return listed.length === 1 ? listed[0] : null;
}

function rowsOf(req, body) {
  const rows = [];
  const sets = (body.response && body.response.resultSets) || [];
  const own = state.config.beaconId;
  const peers = (body.info && body.info.network && body.info.network.peers) || [];
  for (const set of sets) {
    const beaconId = set.beaconId || own;
    const dataset = datasetOf(beaconId, set.id);
    const given = textOf(objectOf(set.info).returnedGranularity) || body.meta.returnedGranularity;
    const counted = given !== "boolean";
    const precision = textOf(set.countPrecision), adjusted = textsOf(set.countAdjustedTo);
    const words = counted ? countWords(set.resultsCount, precision, adjusted)
                          : { text: "not given", note: "yes/no answer only" };
    const why = whyNotMore(req.granularity, given, dataset);
    rows.push({
      node: beaconId, country: dataset && dataset.country, dataset: set.id,
      title: dataset ? dataset.title : "", access: dataset ? dataset.accessLevel : "",
      status: "answered", exists: set.exists, found: set.exists ? "yes" : "not found",
      count: counted ? set.resultsCount : null, countShown: words.text, countNote: words.note,
      bounds: counted ? countBounds(set.resultsCount, precision, adjusted) : null,
      countPrecision: counted ? precision : "",
      countAdjustedTo: counted ? adjusted.join(" | ") : "",   // no ";": a CSV separator
      granularity: given, whyNotMore: why.text, why, results: set.results || [],
      accessLinks: (why.links || []).map(({ label, href }) => ({ label, href })),
      datasetPage: dataset ? dataset.page : null,
      page: { skip: 0, limit: pageSize(req, peers.find((p) => p.id === beaconId)) },
    });
  }
  // A network's answer (info.network) is never the node's own, even when it lists no peer:
  // one that could not read its catalogue of nodes asked none, and its empty answer was
  // shown as the node's "(all datasets) not found".
  const network = Array.isArray(objectOf(objectOf(body.info).network).peers);
  for (const peer of peers) {
    if (peer.status !== "ok") {
      // one that refused the question (a 4xx: up, and said no, its line says why) is not
      // "unavailable", which read as an outage where its answer was a privacy limit
      const refused = peer.refused === true;
      rows.push({ node: peer.id, country: "", dataset: "", title: "", access: "",
                  status: refused ? "refused the question" : `unavailable: ${peer.status}`,
                  exists: null, found: refused ? "refused the question" : `unavailable (${peer.status})`,
                  count: null, countShown: "",
                  countNote: "", countPrecision: "", countAdjustedTo: "", granularity: "",
                  whyNotMore: peer.detail || "", why: { text: peer.detail || "" }, results: [],
                  unavailable: peer });
    } else if (!sets.some((s) => s.beaconId === peer.id) && peer.returnedGranularity &&
               !askedNone(peer.id, peer)) {
      // A peer that answered without resultSets (yes/no only): its line says what it found.
      // (One that asked none of its datasets says which it did not ask, below, instead.)
      const why = whyNotMore(req.granularity, peer.returnedGranularity, onlyDatasetOf(req, peer.id));
      // its count with the precision it stated (the network's line carries it): a rounded
      // or bounded count was shown bare, as exact
      const counted = Number.isInteger(peer.numTotalResults);
      const precision = textOf(peer.countPrecision), adjusted = textsOf(peer.countAdjustedTo);
      const words = counted ? countWords(peer.numTotalResults, precision, adjusted)
                            : { text: "not given", note: "" };
      rows.push({ node: peer.id, country: "", dataset: "(all its datasets)", whole: true, title: "", access: "",
                  status: "answered", exists: Boolean(peer.exists),
                  found: peer.exists ? "yes" : "not found", count: counted ? peer.numTotalResults : null,
                  countShown: words.text, countNote: words.note,
                  bounds: counted ? countBounds(peer.numTotalResults, precision, adjusted) : null,
                  countPrecision: counted ? precision : "",
                  countAdjustedTo: counted ? adjusted.join(" | ") : "",
                  granularity: peer.returnedGranularity, whyNotMore: why.text, why, results: [],
                  accessLinks: (why.links || []).map(({ label, href }) => ({ label, href })) });
    }
  }
  for (const peer of peers) rows.push(...notAskedRows(peer.id, peer));
  if (!sets.length && !network && !askedNone(own, objectOf(body.info))) {
    const why = whyNotMore(req.granularity, body.meta.returnedGranularity, onlyDatasetOf(req, own));
    rows.push({ node: own, country: "", dataset: "(all datasets)", whole: true, title: "", access: "",
                status: "answered", exists: body.responseSummary.exists,
                found: body.responseSummary.exists ? "yes" : "not found",
                count: body.responseSummary.numTotalResults ?? null,
                countShown: body.responseSummary.numTotalResults !== undefined
                  ? String(body.responseSummary.numTotalResults) : "not given",
                countNote: "", countPrecision: body.responseSummary.countPrecision || "",
                countAdjustedTo: "", granularity: body.meta.returnedGranularity,
                whyNotMore: why.text, why, results: [],
                accessLinks: (why.links || []).map(({ label, href }) => ({ label, href })) });
  }
  if (!network) rows.push(...notAskedRows(own, objectOf(body.info)));   // after its answer
  return { rows, peers };
}

// The datasets a node did not ask (docs/beacon.md): on another assembly than the search's,
// or requiring a purpose of use the search did not state; and those that refuse the caller,
// its privacy account for them spent (docs/privacy.md): asked, and said no, their status
// is "refused", not "not asked". A line each, saying so, where the answer alone read as
// "not found" of them.
function notAskedRows(node, said) {
  const rows = [];
  const line = (id, found, text, status = "not asked") => {
    const dataset = datasetOf(node, id);
    rows.push({ node, country: dataset ? dataset.country : "", dataset: id,
                title: dataset ? dataset.title : "", access: dataset ? dataset.accessLevel : "",
                status, exists: null, found, count: null, countShown: "",
                countNote: "", countPrecision: "", countAdjustedTo: "", granularity: "",
                whyNotMore: text, why: { text }, results: [] });
  };
  for (const [assembly, ids] of Object.entries(objectOf(said.onOtherAssemblies))) {
    for (const id of textsOf(ids)) {
      line(id, `not asked (${assembly})`,
           `its positions are on ${assembly}: choose ${assembly} as the assembly to ask it`);
    }
  }
  for (const id of textsOf(said.purposeRequired)) {
    line(id, "not asked (purpose of use)", "it requires a purpose of use: state one to ask it");
  }
  for (const id of textsOf(said.refused)) {
    line(id, "not answered (privacy limit)",
         "it answers you nothing more: your answers about its variants near the allele floor, " +
         "which name nobody, reached the privacy loss it allows each caller", "refused");
  }
  return rows;
}

// Whether a node's answer names datasets it did not ask: then its yes or no was of none.
// Those that refused the caller do not count: a node answers a question only they refused
// with a 403, so one that names them answered others (its yes or no for those was dropped).
function askedNone(node, said) {
  return notAskedRows(node, said).some((row) => row.status === "not asked");
}

function renderRows(rows) {
  const tbody = $("result-table").tBodies[0];
  tbody.replaceChildren(...rows.map((row) => {
    const why = el("span", {}, row.whyNotMore);
    if (row.why && row.why.action === "sign-in" && !$("sign-in").hidden) {
      why.append(" ", el("button", { type: "button", class: "link-sign-in", "data-sign-in": "1" }, "Sign in"));
    }
    const links = (row.why && row.why.links) || [];
    if (links.length) {
      why.append(row.why.action === "sign-in" ? " or ask for access: " : ": ", el("span", { class: "access-links" },
        ...links.flatMap((link, i) => [i ? ", " : "", el("a", {
          href: link.href, class: `access-${link.kind}`,
          ...(link.kind === "request" ? { rel: "noopener noreferrer", target: "_blank" } : {}) }, link.label)])));
    }
    return el("tr", { class: row.unavailable ? "unavailable" : null },
      el("td", {}, row.node, row.country ? el("span", { class: "note" }, row.country) : null),
      el("td", {}, row.title || row.dataset, row.title ? el("span", { class: "note" }, row.dataset) : null,
         row.datasetPage ? el("a", { class: "note dataset-page", href: row.datasetPage,
                                     rel: "noopener noreferrer", target: "_blank" }, "About this dataset") : null),
      el("td", {}, row.access),
      el("td", {}, row.found),
      el("td", { class: "num" }, row.countShown,
         row.countNote ? el("span", { class: "note" }, row.countNote) : null),
      el("td", {}, row.granularity),
      el("td", {}, why));
  }));
  for (const button of tbody.querySelectorAll("[data-sign-in]")) button.addEventListener("click", signIn);
  $("result-table").hidden = false;
}

function renderUnavailable(peers) {
  const down = peers.filter((p) => p.status !== "ok");
  const box = $("unavailable");
  if (!down.length) { box.replaceChildren(); return; }
  box.replaceChildren(
    el("p", {}, `${down.length} node${down.length > 1 ? "s" : ""} could not answer; ` +
       "their datasets are missing from these results (this is not \"not found\"):"),
    el("ul", {}, down.map((p) => el("li", {},
      el("strong", {}, p.id), p.refused === true ? ": refused the question" : `: ${p.status}`,
      p.detail ? ` (${p.detail})` : ""))));
}

function position(record) {
  const loc = record.variation && record.variation.location;
  const start = loc && loc.interval && loc.interval.start && loc.interval.start.value;
  return typeof start === "number" ? start + 1 : "";
}

function frequencyRows(record) {
  const block = objectOf(Array.isArray(record.frequencyInPopulations) && record.frequencyInPopulations[0]);
  return Array.isArray(block.frequencies) ? block.frequencies.map(objectOf) : [];
}

// An allele frequency as a number from 0 to 1, or null: a peer may send anything ("1e999"
// reads as Infinity, which drew a bar of NaN width), and what is not a frequency is shown as
// not available, never drawn.
const NOT_AVAILABLE = "not available";

function alleleFrequency(value) {
  const number = typeof value === "number" ? value
    : typeof value === "string" && value.trim() ? Number(value) : NaN;
  return Number.isFinite(number) && number >= 0 && number <= 1 ? number : null;
}

function barChart(rows, label) {
  const width = 320, bar = 16, gap = 6, left = 70, right = 52;
  const height = rows.length * (bar + gap) + gap;
  const max = Math.max(...rows.map((r) => alleleFrequency(r.alleleFrequency) || 0), 1e-9);
  const chart = svg("svg", { class: "bars", role: "img", width, height,
                             viewBox: `0 0 ${width} ${height}`, "aria-label": label });
  chart.append(svg("title", {}, label));
  rows.forEach((r, i) => {
    const y = gap + i * (bar + gap), af = alleleFrequency(r.alleleFrequency);
    chart.append(svg("text", { x: left - 4, y: y + bar - 4, "text-anchor": "end" }, shownOf(r.population)));
    if (af === null) {
      chart.append(svg("text", { x: left + 4, y: y + bar - 4, class: "missing" }, NOT_AVAILABLE));
      return;
    }
    const w = Math.max(1, ((width - left - right) * af) / max);
    chart.append(svg("rect", { x: left, y, width: w, height: bar, class: i === 0 ? "whole" : "pop" }));
    chart.append(svg("text", { x: left + w + 4, y: y + bar - 4 }, af.toFixed(4)));
  });
  return chart;
}

// What a record's frequencies are made of when the dataset's count is not exact: a node
// gives a tier's population counts rounded up to its step and lumped as its counts are
// (beacon/populations.py, docs/privacy.md), and the frequency it gives is of those counts.
// Shown bare, SE's 6 alleles of 24 (0.25) read "0.4000, 10 of 25" as FI's exact ones read
// (found by a review, 2026-12-07). Another node's may be exact: the page says "may".
function frequencyPrecision(row) {
  if (!row.countPrecision || row.countPrecision === "exact") return null;
  const step = /multiple of (\d+)/.exec(row.countAdjustedTo || "");
  const how = step ? `rounded up to a multiple of ${step[1]}` : `${row.countPrecision}`;
  return el("p", { class: "note frequency-precision" },
    `This dataset's counts are ${how} for you: these allele counts and numbers may be too, ` +
    "and the allele frequency is then of those counts, not of the exact ones.");
}

function recordNodes(row, record) {
  if (!record.variantInternalId) {
    const sex = textOf(objectOf(record.sex).label);
    return [el("p", { class: "individual" }, `Individual ${textOf(record.id)}` + (sex ? `, ${sex}` : ""))];
  }
  const v = objectOf(record.variation), id = shownOf(record.variantInternalId);
  const attrs = objectOf(record.molecularAttributes);
  const extra = [textsOf(attrs.geneIds).join(", "), textsOf(attrs.aminoacidChanges).join(", ")]
    .filter(Boolean).join(" ");
  const nodes = [el("h4", { class: "variant" }, id,
    el("span", { class: "note" }, `POS ${position(record)} ${shownOf(v.referenceBases)}>${shownOf(v.alternateBases)} ${shownOf(v.variantType)} ${extra}`))];
  const freqs = frequencyRows(record);
  if (freqs.length) {
    const label = `Allele frequency of ${id} per population in ${row.dataset}`;
    const table = el("table", { class: "frequencies" },
      el("caption", {}, "Population frequencies (first row: the whole dataset)"),
      el("thead", {}, el("tr", {}, ["Population", "Allele frequency", "Allele count", "Allele number",
        "Homozygous", "Heterozygous", "Hemizygous"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, freqs.map((f) => {
        const af = alleleFrequency(f.alleleFrequency);
        return el("tr", {},
          el("th", { scope: "row" }, shownOf(f.population)),
          el("td", { class: "num" }, af === null ? NOT_AVAILABLE : af.toFixed(4)),
          ...[f.alleleCount, f.alleleNumber, f.alleleCountHomozygous,
              f.alleleCountHeterozygous, f.alleleCountHemizygous].map((x) =>
            el("td", { class: "num" }, shownOf(x))));
      })));
    nodes.push(el("div", { class: "populations" },
      frequencyPrecision(row),
      el("div", { class: "table-wrap", tabindex: "0", role: "region",
                  "aria-label": `Population frequencies of ${id}` }, table),
      barChart(freqs, label)));
  }
  return nodes;
}

// ---------------------------------------------------------------- record pages
// A dataset answering with records returns one page of them (`limit` records, the page
// `skip`); the next and previous pages are asked of that dataset alone
// ({root}/datasets/{id}/{entry}, the same query with another `skip`).
function pageWords(row) {
  const first = row.page.skip * row.page.limit + 1, shown = row.results.length;
  const exact = row.countPrecision === "exact" && typeof row.count === "number";
  const range = shown ? `records ${first} to ${first + shown - 1}` : "no records on this page";
  return `${row.title || row.dataset} (${row.node}): ${range}` +
    (exact ? ` of ${row.count}` : "") + ` (page ${row.page.skip + 1})`;
}

// The records a page of a dataset holds: those its node returns, which a network's line for
// the node says (`pagination.limit`: fewer than asked where the node returns no more a
// page), else the number asked. Its next pages are asked with that limit: with the one
// asked, a node returning fewer read `skip` as pages of it or of its own, and the records
// in between were never shown, or page 2 was numbered as records past the first limit.
function pageSize(req, peer) {
  const limit = objectOf(objectOf(peer).pagination).limit;
  return Number.isInteger(limit) && limit > 0 && limit < req.limit ? limit : req.limit;
}

function hasNextPage(row) {
  if (!addressable(row.dataset)) return false;      // its pages are asked at its path
  const shown = row.results.length;
  if (row.countPrecision === "exact" && typeof row.count === "number") {
    return row.page.skip * row.page.limit + shown < row.count;
  }
  return shown === row.page.limit;          // a full page: there may be more
}

function pageRequest(row, skip) {
  const req = state.shown.request;
  const path = `${state.base}/datasets/${encodeURIComponent(row.dataset)}/${req.entry}`;
  if (req.method === "GET") {
    const query = new URL(req.getUrl).searchParams;
    query.set("skip", String(skip));
    query.set("limit", String(row.page.limit));
    return { url: `${location.origin}${path}?${query}`, options: {}, body: null };
  }
  const body = JSON.parse(JSON.stringify(req.body));
  body.query.pagination = { skip, limit: row.page.limit };
  return { url: `${location.origin}${path}`, body, options: {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) } };
}

// `signal` is the search's whose answer the section shows: a later search aborts it, and the
// page it asked for is no longer wanted.
async function turnPage(row, section, skip, signal) {
  const status = section.querySelector(".page-status");
  const from = document.activeElement || document.body;
  status.textContent = `Asking for page ${skip + 1}…`;
  for (const button of section.querySelectorAll(".pager button")) button.disabled = true;
  const { url, options, body: sentBody } = pageRequest(row, skip);
  let answer;
  try { answer = await callApi(url, { ...options, signal }); } catch (error) {
    status.textContent = signal.aborted ? "Not asked: a newer search replaces these results."
      : `No answer from this node: ${error.message}`;
    fillRecords(row, section);
    refocus(from, section.querySelector("h3"));
    return;
  }
  const { response, body } = answer;
  if (!response.ok || !body || !body.meta) {
    if (response.status === 401 && state.token) signInLost();
    status.textContent = refusalText(response, body);
    fillRecords(row, section);
    refocus(from, section.querySelector("h3"));
    return;
  }
  const sets = (body.response && body.response.resultSets) || [];
  const set = sets.find((s) => s.id === row.dataset && (s.beaconId || state.config.beaconId) === row.node);
  row.results = (set && set.results) || [];
  row.page = { ...row.page, skip };
  // the records shown are this answer's now: the exports hold it whole, beside the search's
  if (state.shown && state.shown.rows.includes(row)) {
    state.shown.pages.set(`${row.node}|${row.dataset}`, {
      node: row.node, dataset: row.dataset, page: skip + 1, skip, limit: row.page.limit,
      askedAt: new Date().toISOString(),
      request: { method: options.method || "GET", url, body: sentBody }, response: body });
  }
  fillRecords(row, section);
  status.textContent = `Showing page ${skip + 1}.`;
  section.querySelector("h3").focus();
}

function fillRecords(row, section) {
  section.querySelector("h3").textContent = pageWords(row);
  section.querySelector(".record-list").replaceChildren(...row.results.flatMap((r) => recordNodes(row, r)));
  const [previous, next] = section.querySelectorAll(".pager button");
  previous.disabled = row.page.skip === 0;
  next.disabled = !hasNextPage(row);
  section.querySelector(".pager").hidden = previous.disabled && next.disabled;
}

function recordsSection(row, signal) {
  const section = el("section", { class: "dataset-records", "aria-label": `Records of ${row.title || row.dataset} (${row.node})` },
    el("h3", { tabindex: "-1" }),
    el("div", { class: "record-list" }),
    el("p", { class: "pager" },
      el("button", { type: "button", class: "previous-page" }, "Previous records"), " ",
      el("button", { type: "button", class: "next-page" }, "Next records"), " ",
      el("span", { class: "page-status", role: "status", "aria-live": "polite" })));
  const [previous, next] = section.querySelectorAll(".pager button");
  previous.addEventListener("click", () => turnPage(row, section, Math.max(0, row.page.skip - 1), signal));
  next.addEventListener("click", () => turnPage(row, section, row.page.skip + 1, signal));
  fillRecords(row, section);
  return section;
}

function renderRecords(rows, signal) {
  $("records").replaceChildren(...rows.filter((row) => row.results.length)
    .map((row) => recordsSection(row, signal)));
}

async function search(event) {
  if (event) event.preventDefault();
  try { await runSearch(); } finally {
    state.searches += 1;
    document.body.dataset.searches = String(state.searches);   // tests wait on it
  }
}

// While a search runs its button is disabled (Enter in the form does nothing either: each
// query spends the caller's budget at every node) and the results are aria-busy.
function showBusy(busy) {
  $("search").disabled = busy;
  if (busy) $("results").setAttribute("aria-busy", "true");
  else $("results").removeAttribute("aria-busy");
}

const requestKey = (req) => JSON.stringify([req.method, req.getUrl, req.postUrl, req.body]);

// Search stays disabled for the search running alone: a form changed since (a query
// mistyped, asked of a slow node) may be searched at once, which abandons the running one.
// It was disabled until the slow search ended, up to a wide query's 30 s.
function formChanged() {
  if (state.refusedKey !== null) offerRetry();
  if (state.askingKey === null) return;
  const req = buildRequest();
  $("search").disabled = !req.error && requestKey(req) === state.askingKey;
}

// Search again asks the request refused (a 429, a 503, no answer), which the form holds only
// until it is changed: offered while the form asks it. It searched whatever the form held,
// another request than the one refused, while the page said it asks the same again.
function offerRetry() {
  const req = buildRequest();
  $("retry").hidden = Boolean(req.error) || requestKey(req) !== state.refusedKey;
}

function refused(req, retry) {
  state.refusedKey = retry ? requestKey(req) : null;
  $("retry").hidden = !retry;
}

// A control disabled or hidden while it has the focus (Search and Search again while a
// search runs, a record page's buttons while the page is asked) drops the focus to the
// page's top, where a keyboard or screen-reader user had to find their way back from. When
// the request ends, focus so dropped returns to `from`, or, that control gone, to `fallback`.
function refocus(from, fallback) {
  if (document.activeElement && document.activeElement !== document.body) return;
  from.focus();
  if (document.activeElement !== from) fallback.focus();
}

// The field at fault is also described by the error: the alert is said once, and a screen
// reader coming back to the field said "invalid" without why.
// `alert` is the form's error line: the query form's, or the catalogue search's.
function showFormError(req, alert = "form-error") {
  const field = $(req.field);
  $(alert).textContent = req.error;
  field.setAttribute("aria-invalid", "true");
  field.setAttribute("aria-describedby",
                     `${field.getAttribute("aria-describedby") || ""} ${alert}`.trim());
  field.focus();
}

// The form's field that sent what a node's 400 names (the node's errorMessage starts with the
// request's field, beacon/request.py RequestError: "start: 83257441 is not a position on …").
// The error is identified at that field as a form error is (WCAG 2.1, 3.3.1): it was said in
// the status line alone, in the API's names, and the field was neither marked nor focused.
const QUERY_BOX_FIELDS = new Set(["referenceName", "start", "end", "referenceBases", "alternateBases",
  "genomicAlleleShortForm", "geneId", "aminoacidChange", "requestParameters"]);
const NODE_FIELDS = { assemblyId: "assembly", variantType: "variant-type", "meta.purposeOfUse": "purpose" };

function formFieldOf(req, named) {
  if (QUERY_BOX_FIELDS.has(named.split(/[.[]/)[0])) return "q";
  if (Object.hasOwn(NODE_FIELDS, named)) return NODE_FIELDS[named];
  const filter = /^filters\[(\d+)\]/.exec(named);
  const sent = filter && req.filters[Number(filter[1])];
  if (!sent) return null;
  if (sent.id === ONSET) return named.endsWith(".operator") ? "onset-op" : "onset-years";
  return SEX_TERMS.has(sent.id) ? "sex" : "term";
}

function showNodeFieldError(req, body) {
  const message = textOf(objectOf(objectOf(body).error).errorMessage);
  const colon = message.indexOf(": ");
  const id = colon > 0 ? formFieldOf(req, message.slice(0, colon)) : null;
  const field = id && $(id);
  if (!field || field.closest("[hidden]") || field.closest("fieldset:disabled")) return;
  const name = field.labels.length ? field.labels[0].textContent : field.getAttribute("aria-label");
  showFormError({ field: id, error: `${name.trim()}: the node refused it (${message.replace(/\.$/, "")}).` });
}

function clearFormError(form = "query-form", alert = "form-error") {
  $(alert).textContent = "";
  for (const field of document.querySelectorAll(`#${form} [aria-invalid]`)) {
    field.removeAttribute("aria-invalid");
    const described = field.getAttribute("aria-describedby").replace(new RegExp(`\\s*${alert}$`), "");
    if (described) field.setAttribute("aria-describedby", described);
    else field.removeAttribute("aria-describedby");
  }
}

// Only the latest search's answer is shown: a search started while another runs (the page's
// own search after sign-in, or one the researcher started before the page was ready) aborts
// the earlier one and the record pages of the answer shown, whose late answers would
// otherwise replace the later one's under the later one's form, request and exports.
async function runSearch() {
  clearFormError();
  const req = buildRequest();
  if (req.error) { showFormError(req); return; }
  history.replaceState(null, "", linkOf(formState()));
  if (state.asking) state.asking.abort();
  state.askAgain = false;
  const asking = new AbortController();
  state.asking = asking;
  state.askingKey = requestKey(req);
  const from = document.activeElement || document.body;
  showBusy(true);
  try { await ask(req, asking.signal); } finally {
    if (state.asking === asking) {
      state.askingKey = null;
      showBusy(false);
      refocus(from, $("results"));
    }
  }
}

async function ask(req, signal) {
  showRequest(req);
  $("status").textContent = "Asking…";
  delete $("status").dataset.refused;
  refused(req, false);
  const url = req.method === "GET" ? req.getUrl : req.postUrl;
  let answer;
  try {
    answer = await callApi(url, req.method === "GET" ? { signal } : {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(req.body),
      signal });
  } catch (error) {
    if (signal.aborted) return;               // a later search shows its own answer
    // the node out of reach (stopped, the network down): the last answer stayed under this
    // search's request, read as its answer, and exported as such
    $("status").textContent = `No answer from this node: ${error.message}`;
    refused(req, true);
    clearResults();
    return;
  }
  const { response, body } = answer;
  if (!response.ok || !body || !body.meta) {
    if (response.status === 401 && state.token) signInLost();
    $("status").textContent = refusalText(response, body);
    $("status").dataset.refused = String(response.status);
    refused(req, [429, 503].includes(response.status));
    clearResults();
    if (response.status === 400) showNodeFieldError(req, body);
    return;
  }
  await relist(body);
  if (signal.aborted) return;                 // a later search shows its own answer
  // Whatever stops an answer being shown, the last one does not stay under the new query.
  try { showAnswer(req, body, signal); } catch (error) {
    clearResults();
    $("status").textContent = `The node's answer could not be shown (${error.message}); nothing from it is listed.`;
  }
}

// No answer on screen: its rows, records, unavailable nodes and exports.
function clearResults() {
  $("result-table").hidden = true;
  $("result-table").tBodies[0].replaceChildren();
  $("records").replaceChildren();
  $("unavailable").replaceChildren();
  $("exports").hidden = true;
  state.shown = null;
}

function showAnswer(req, body, signal) {
  const answeredAt = performance.now();
  const { rows, peers } = rowsOf(req, body);
  renderUnavailable(peers);
  renderRows(rows);
  renderRecords(rows, signal);
  // Datasets not asked (another assembly, no purpose of use) are neither found nor not found:
  // with none asked, the line announced said "Not found in 0 of 3 datasets; total 0". Nor are
  // those that refused the caller, counted apart: they were asked ("1 dataset not asked" was
  // said of them).
  const answered = rows.filter((r) => r.status === "answered");
  const notAsked = rows.filter((r) => r.status === "not asked").length;
  const notAnswered = rows.filter((r) => r.status === "refused").length;
  const summary = body.responseSummary || {};
  const total = totalWords(summary, rows);
  const down = rows.filter((r) => r.unavailable && r.unavailable.refused !== true).length;
  const refusing = rows.filter((r) => r.unavailable && r.unavailable.refused === true).length;
  const datasets = (n) => `${n} dataset${n === 1 ? "" : "s"}`;
  // a node's one yes or no for all its datasets counts as a node ("Found in 2 of 2
  // datasets" was said of two nodes holding three)
  const sets = answered.filter((r) => !r.whole), wholes = answered.filter((r) => r.whole);
  const found = (list) => `${list.filter((r) => r.exists).length} of ${list.length}`;
  const one = wholes.length === 1;
  const where = [sets.length || !wholes.length ? `in ${found(sets)} dataset${sets.length === 1 ? "" : "s"}` : "",
                 wholes.length ? `at ${found(wholes)} node${one ? "" : "s"} (one yes or no for all ` +
                                 `${one ? "its" : "their"} datasets)` : ""];
  // Every node asked could not answer, one refusing the question (a 4xx: a network answers
  // it on that node's line): "Not found in 0 of 0 datasets" was said of no answer at all.
  // A network taking its nodes from its catalogue says in info.network.catalogue when it
  // could not read it (docs/federation.md): the nodes it lists were then not asked (but
  // those of the list read before, stalePeers), and with none asked its empty answer read
  // as "Not found at 0 of 1 node" (found by a review, 2026-12-07).
  const listing = objectOf(objectOf(objectOf(body.info).network).catalogue);
  const stale = Number.isInteger(listing.stalePeers) ? listing.stalePeers : 0;
  const unlisted = listing.status !== undefined && listing.status !== "ok"
    ? `; the network could not read its list of nodes from its catalogue` +
      (textOf(listing.detail) ? ` (${textOf(listing.detail)})` : "") +
      (stale ? `, and asked the ${stale} it read before` : ": the nodes it lists were not asked")
    : "";
  const noAnswer = !answered.length && !notAsked && !notAnswered &&
    (down || refusing || unlisted || (Array.isArray(objectOf(objectOf(body.info).network).peers) && !peers.length));
  $("status").textContent = (noAnswer ? 'No answer (this is not "not found")'
    : answered.length || !notAsked
    ? `${summary.exists ? "Found" : "Not found"} ${where.filter(Boolean).join(" and ")}` +
      (total ? `; total ${total.text}${total.note ? ` (${total.note})` : ""}` : "") +
      (notAsked ? `; ${datasets(notAsked)} not asked` : "") +
      (notAnswered ? `; ${datasets(notAnswered)} not answered (privacy limit)` : "")
    : notAsked === 1 ? "Not searched: the one dataset was not asked (its line says why)"
      : `Not searched: none of the ${notAsked} datasets was asked (each one's line says why)`) +
    (down ? `; ${down} node${down > 1 ? "s" : ""} unavailable` : "") +
    (refusing ? `; ${refusing} node${refusing > 1 ? "s" : ""} refused the question` : "") +
    (unlisted || (noAnswer && !down && !refusing ? "; the network lists no node" : "")) + ".";
  document.body.dataset.renderMs = (performance.now() - answeredAt).toFixed(1);
  state.shown = { request: req, rows, peers, response: body,
                  askedAt: new Date().toISOString(), pages: new Map() };
  $("exports").hidden = false;
}

// ---------------------------------------------------------------- export
const CSV_COLUMNS = ["node", "dataset", "title", "access", "status", "exists", "count",
                     "countShown", "countPrecision", "countAdjustedTo", "granularity", "whyNotMore"];

// A spreadsheet takes a field starting with =, +, -, @, a tab or a carriage return for a
// formula (CSV injection), and the rows hold text from node metadata and any peer (a
// dataset's title, a peer's error message). Excel in a locale whose list separator is ";"
// (fi, sv, de, fr...) splits this comma-separated file on ";", and LibreOffice lets the
// user split it on ";", a tab or "|": a field may then start inside a cell, after any of
// these, a line break, spaces or double quotes ("Cohort;=1+1;x"). So every formula
// character that could start a field under any of these separators is written after a
// single quote, and such a cell is quoted, as OWASP says ("Cohort;'=1+1;x"); read with ","
// the cell is the text with those quotes added. Numbers the page writes (counts) are
// written as numbers, a negative one too: a comma always stands before them.
const CSV_FORMULA = "=+-@\t\r";
const CSV_FIELD_BREAK = ",;\t|\r\n";

function csvCell(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  const text = String(value);
  let written = "", fieldStart = true;
  for (const c of text) {
    if (fieldStart && CSV_FORMULA.includes(c)) written += "'";
    written += c;
    if (CSV_FIELD_BREAK.includes(c)) fieldStart = true;
    else if (c !== '"' && !/\s/.test(c)) fieldStart = false;
  }
  return written !== text || /[",\n\r]/.test(text)
    ? `"${written.replace(/"/g, '""')}"` : written;
}

function exportCsv() {
  const lines = [CSV_COLUMNS.join(",")].concat(state.shown.rows.map((row) =>
    CSV_COLUMNS.map((c) => csvCell(row[c])).join(",")));
  // The byte order mark tells a spreadsheet the text is UTF-8: without it Excel read it in
  // the machine's code page, and "Näyte Å" arrived as "NÃ¤yte Ã…".
  download("beacon-results.csv", "text/csv;charset=utf-8", "\ufeff" + lines.join("\r\n") + "\r\n");
}

// Each answer shown, whole and as the node sent it: the search's (`response`) and, for each
// dataset whose records were turned to another page, that page's answer with the request
// that asked it (`pages`). A row's records and page are those shown. The export held the
// turned page's records beside the first answer's response and summary, a document no node
// sent, under the search's name; its name now says which page is shown.
function exportJson() {
  const { request, rows, peers, response, askedAt } = state.shown;
  const pages = [...state.shown.pages.values()];
  const data = { askedAt, request: { method: request.method, getUrl: request.getUrl,
                                     postUrl: request.postUrl, body: request.body },
                 rows: rows.map(({ why, unavailable, whole, bounds, ...row }) => row),
                 peers, response, pages };
  const turned = pages.length === 1
    ? `-${pages[0].dataset.replace(/[^A-Za-z0-9._-]+/g, "_")}-page-${pages[0].page}`
    : pages.length ? `-record-pages-of-${pages.length}-datasets` : "";
  download(`beacon-results${turned}.json`, "application/json", JSON.stringify(data, null, 2));
}

function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = el("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// ---------------------------------------------------------------- sign-in (PKCE)
function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// The page starts once each issuer's discovery document is read (a sign-in's answer needs
// its token endpoint): one that does not come within this long is left out, where a hung
// provider kept the page from starting at all (no datasets listed, a link not asked).
const DISCOVERY_SECONDS = 5;
const TOKEN_SECONDS = 10;         // the code's exchange, likewise (finishSignIn)

// Where OpenID Connect Discovery (4) puts the document: a trailing "/" of the issuer removed
// first (LS Login's issuer ends in one), as the node reads it (auth/issuers.py); the page
// asked ".../oidc//.well-known/...", and offered no sign-in.
async function discover(issuer) {
  const response = await fetch(`${issuer.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`,
                               { credentials: "omit", referrerPolicy: "no-referrer",
                                 signal: AbortSignal.timeout(DISCOVERY_SECONDS * 1000) });
  if (!response.ok) throw new Error(`discovery answered ${response.status}`);
  return response.json();
}

function formState() {
  return { q: $("q").value, entry: entryType(), assembly: $("assembly").value,
           variantType: $("variant-type").value, granularity: $("granularity").value,
           limit: $("limit").value, scope: state.scope ? `${state.scope.node}|${state.scope.id}` : null,
           sex: $("sex").value, term: $("term").value, descendants: $("descendants").checked,
           onsetOp: $("onset-op").value, onsetYears: $("onset-years").value,
           purpose: $("purpose").value };
}

// A form saved by this page (over a sign-in) or read from a link (linkedForm), whose values
// are anyone's text: a field takes only a value it can hold (an option of its select, digits
// in a number box) and keeps its own otherwise, and the entry type's radio is found by
// value, never by a selector made of it (a link's entry `"]` threw, and the page stopped).
function restoreForm(saved) {
  if (!saved) return;
  $("q").value = typeof saved.q === "string" ? saved.q : "";
  const radio = [...document.querySelectorAll('input[name="entry"]')].find((r) => r.value === saved.entry);
  if (radio) radio.checked = true;
  for (const [id, key] of [["assembly", "assembly"], ["variant-type", "variantType"],
                           ["granularity", "granularity"], ["limit", "limit"], ["sex", "sex"], ["term", "term"],
                           ["onset-op", "onsetOp"], ["onset-years", "onsetYears"],
                           ["purpose", "purpose"]]) {
    const field = $(id), value = saved[key];
    if (typeof value !== "string") continue;
    if (field.tagName === "SELECT" ? [...field.options].some((o) => o.value === value)
      : field.type !== "number" || /^\d{0,4}$/.test(value)) field.value = value;
  }
  $("descendants").checked = saved.descendants !== false;
  if (saved.scope && state.catalogue.has(saved.scope) &&
      addressable(state.catalogue.get(saved.scope).id)) setScope(state.catalogue.get(saved.scope));
  entryChanged();
}

// A link's search: the form filled in from it and asked, unless it is scoped to a dataset
// not listed here, which is not asked of every dataset instead, or filters individuals by a
// term not listed here, which is not asked of every individual instead (it was: the filter
// dropped, the answer about everyone shown under the link).
async function askLinked(linked) {
  restoreForm(linked);
  queryTyped();
  const termLost = linked.entry === "individuals" && typeof linked.term === "string" &&
    linked.term !== "" && $("term").value !== linked.term;
  if ((!linked.scope || state.scope) && !termLost) {
    // a link whose form has an error is refused before it is sent: said at the field, as a
    // search's error is (search), with nothing of an earlier search left under the link
    if (buildRequest().error) {
      showNothingAsked("Not searched: the link's search has an error in the form, said at " +
                       "its field; correct it and search.");
    }
    await search();
    return;
  }
  // a search still running is abandoned: its late answer replaced "Not searched" under the
  // link's address and form
  showNothingAsked("");
  // A list the node refused (the network's 503 when no peer could answer), or read without
  // the dataset's node, is an outage, not the caller's rights: it said "(it may need a
  // sign-in)" of it.
  const scoped = typeof linked.scope === "string" ? linked.scope : "";
  const node = scoped.slice(0, Math.max(0, scoped.indexOf("|")));
  const dataset = `${scoped.slice(scoped.indexOf("|") + 1)} of ${node}`;
  const again = "Open the link again later.";
  $("status").textContent = termLost && state.termsRefused
    ? `Not searched: the link filters by a disease or phenotype (${linked.term}), and the ` +
      `diseases and phenotypes could not be listed (${state.termsRefused}). ${again}`
    : termLost
    ? `Not searched: the link filters by a disease or phenotype (${linked.term}) that this ` +
      "page does not list to you (it may need a sign-in). Choose one, or search without it."
    : state.catalogueRefused
    ? `Not searched: the link asks only one dataset (${dataset}), and the datasets could not ` +
      `be listed (${state.catalogueRefused}). ${again}`
    : state.catalogueLacks instanceof Set && state.catalogueLacks.has(node)
    ? `Not searched: the link asks only one dataset (${dataset}), and ${node} did not answer ` +
      `when the datasets were listed. ${again}`
    : "Not searched: the link asks only one dataset, which this page does not list to you " +
      "(it may need a sign-in). Choose a dataset, or search them all.";
}

// A link pasted into the address bar of a tab already showing the page changes only the
// fragment: the browser does not load the page again, and the form and answer of the search
// before stayed under the link. The form is set as a page opened at the link sets it (what
// the link leaves out at its default, the scope as the link says) and the link asked; the
// purpose of use, never in a link, stays the researcher's own.
async function linkOpened() {
  const linked = linkedForm();
  const purpose = $("purpose").value;
  $("query-form").reset();
  $("purpose").value = purpose;
  setScope(null, false);
  if (linked) {
    await askLinked(linked);
    return;
  }
  // a link to the page without a search (`#`, back to the address before the first link):
  // the page as opened at it, where the last search's request and answer stayed
  entryChanged();
  queryTyped();
  clearFormError();
  showNothingAsked("No search yet.");
}

// A link that asks nothing, or is not asked: no search runs, and no request or answer of an
// earlier one is shown under it (its request, rows, records, exports and Search again stayed,
// an answer to a question the address no longer asks). `words` say why, in the status line.
function showNothingAsked(words) {
  if (state.asking) state.asking.abort();
  clearResults();
  $("request").hidden = true;
  delete $("status").dataset.refused;
  refused(null, false);
  $("status").textContent = words;
}

// The form of the search asked is written to the address bar's fragment (#q=…&entry=…), so
// the address can be bookmarked or shared: opened, it fills in the form and asks the search
// again. A fragment is never sent to a server (no researcher's query in a log's URL) and
// keeps clear of the query string, where a sign-in's answer comes back (code, state). The
// purpose of use stays out: it is the statement of whoever asks, not of the link.
function linkOf(form) {
  const link = new URLSearchParams();
  for (const [key, value] of Object.entries(form)) {
    if (key !== "purpose" && typeof value === "string" && value) link.set(key, value);
  }
  if (!form.descendants) link.set("descendants", "false");
  return `#${link}`;
}

function linkedForm() {
  const link = new URLSearchParams(location.hash.slice(1));
  if (!link.has("q") && !link.has("entry")) return null;      // #results: no search
  const form = Object.fromEntries(link);
  delete form.purpose;
  form.descendants = link.get("descendants") !== "false";
  return form;
}

// The issuers a researcher can sign in with: those whose discovery document could be read and
// names an authorization endpoint. With more than one, the page lets the researcher choose.
function usableIssuers() {
  return state.issuers.filter((i) => i.discovery);
}

function chosenIssuer() {
  const usable = usableIssuers();
  return usable.find((i) => i.issuer === $("issuer").value) || usable[0] || null;
}

function issuerName(issuer) {
  try {
    const url = new URL(issuer.issuer);
    return url.host + (url.pathname === "/" ? "" : url.pathname);
  } catch (_) { return issuer.issuer; }
}

async function signIn() {
  const issuer = chosenIssuer();
  if (!issuer) return;
  if (!crypto.subtle) {
    $("who").textContent = "Sign-in needs a secure page (https, or http on 127.0.0.1 or localhost).";
    return;
  }
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const stateValue = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const redirect = `${location.origin}/`;
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({
    verifier, state: stateValue, issuer: issuer.issuer, redirect, form: formState(),
    searched: Boolean(state.shown) || state.askAgain || $("status").dataset.refused === "401" }));
  const query = new URLSearchParams({
    response_type: "code", client_id: issuer.clientId, redirect_uri: redirect,
    scope: "openid ga4gh_passport_v1", state: stateValue, code_challenge: challenge,
    code_challenge_method: "S256" });
  location.assign(`${issuer.discovery.authorization_endpoint}?${query}`);
}

// A provider's refusal (RFC 6749 4.1.2.1, OpenID Connect Core 3.1.2.6) in the page's own
// words. Its error_description is never shown: anyone can send a link to this page with one
// ("your account is suspended, call …"), which the account box would announce as the page's.
const SIGN_IN_REFUSALS = {
  access_denied: "you or the provider declined it",
  invalid_request: "the provider found the sign-in request invalid",
  unauthorized_client: "the provider does not let this page sign in",
  unsupported_response_type: "the provider does not offer this page's kind of sign-in",
  invalid_scope: "the provider does not give Passports to this page",
  server_error: "the provider failed; try again later",
  temporarily_unavailable: "the provider is unavailable for now; try again later",
  login_required: "the provider needs you to sign in",
  interaction_required: "the provider needs you to act on its page",
  consent_required: "the provider needs your consent",
  account_selection_required: "the provider needs you to choose an account",
};

// Back from the provider: exchange the code (once), then forget the URL's code and state. An
// answer counts only when it carries the state of a sign-in started in this tab; an error
// without it is a link anyone can make and is ignored.
async function finishSignIn() {
  const here = new URL(location.href);
  const code = here.searchParams.get("code"), error = here.searchParams.get("error");
  if (!code && !error) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || "null");
  history.replaceState(null, "", location.pathname);
  const ours = Boolean(pending) && pending.state === here.searchParams.get("state");
  // Only the answer to the sign-in started here ends it: any link to the page with a ?code=
  // (or ?error=) deleted the saved verifier, and the real answer then failed.
  if (ours) sessionStorage.removeItem(PENDING_KEY);
  if (error) {
    if (!ours) return null;
    $("who").textContent = Object.hasOwn(SIGN_IN_REFUSALS, error)
      ? `Sign-in refused: ${SIGN_IN_REFUSALS[error]} (${error}).` : "Sign-in refused by the provider.";
    return pending;
  }
  if (!ours) {
    $("who").textContent = "Sign-in failed: the answer does not belong to a sign-in started here.";
    return null;
  }
  const issuer = usableIssuers().find((i) => i.issuer === pending.issuer);
  if (!issuer) {
    $("who").textContent = "Sign-in failed: the provider is no longer trusted by this node.";
    return pending;
  }
  // the page starts once the code is exchanged: a token endpoint that never answered kept
  // it from starting at all
  let response;
  try {
    response = await fetch(issuer.discovery.token_endpoint, {
      method: "POST", credentials: "omit", referrerPolicy: "no-referrer",
      signal: AbortSignal.timeout(TOKEN_SECONDS * 1000),
      body: new URLSearchParams({ grant_type: "authorization_code", code,
                                  redirect_uri: pending.redirect, client_id: issuer.clientId,
                                  code_verifier: pending.verifier }) });
  } catch (error) {
    if (error.name !== "TimeoutError") throw error;
    $("who").textContent = `Sign-in failed: the provider did not answer within ${TOKEN_SECONDS} s.`;
    return pending;
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.access_token) {
    $("who").textContent = `Sign-in failed: ${body.error_description || response.status}`;
    return pending;
  }
  state.token = body.access_token;
  state.issuer = issuer;
  try { state.subject = claimsOf(state.token).sub; } catch (_) { state.subject = "(unknown)"; }
  return pending;
}

// A JWT's claims: its payload is base64url of UTF-8 JSON, and atob gives one character per
// byte, so a name written as UTF-8 (as most providers write it) read "JÃ©rÃ´me".
function claimsOf(jwt) {
  const bytes = atob(jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(bytes, (c) => c.charCodeAt(0))));
}

async function showVisas() {
  const box = $("visas");
  const issuer = state.issuer;
  const endpoint = (issuer && (issuer.userinfo || (issuer.discovery && issuer.discovery.userinfo_endpoint)));
  if (!state.token || !endpoint) { box.hidden = true; return; }
  try {
    const response = await fetch(endpoint, { headers: { Authorization: `Bearer ${state.token}` },
                                             credentials: "omit", referrerPolicy: "no-referrer" });
    const info = await response.json();
    const visas = (info.ga4gh_passport_v1 || []).map((jwt) => {
      try { return claimsOf(jwt).ga4gh_visa_v1; }
      catch (_) { return null; }
    }).filter(Boolean);
    const bonaFide = visas.some((v) => v.type === "ResearcherStatus") &&
                     visas.some((v) => v.type === "AcceptedTermsAndPolicies");
    const grants = visas.filter((v) => v.type === "ControlledAccessGrants").map((v) => v.value);
    box.textContent = `Your visas: ${bonaFide ? "registered (bona fide) researcher" : "no researcher status"}` +
      (grants.length ? `; access granted to ${grants.join(", ")}` : "; no dataset grants") +
      ". Each node decides what they allow; the Granularity column shows it.";
  } catch (_) {
    box.textContent = "Signed in; your visas could not be read from the provider (each node reads them itself).";
  }
  box.hidden = false;
}

function showAccount() {
  const signedIn = Boolean(state.token);
  const usable = usableIssuers();
  if (signedIn) {
    $("who").textContent = `Signed in as ${state.subject}` +
      (state.issuers.length > 1 ? ` (with ${issuerName(state.issuer)}).` : ".");
  }
  $("sign-in").hidden = signedIn || !usable.length;
  $("issuer-choice").hidden = signedIn || usable.length < 2;
  $("sign-out").hidden = !signedIn;
  if (!signedIn) $("visas").hidden = true;
}

// What was asked with the token goes with it: a search still running is abandoned and an
// answer shown is cleared (its rows, records and exports stayed under "Signed out: you see
// what anonymous callers may see"); signing in again asks that search again. The datasets and
// the disease terms are asked again as the caller now is: a bona fide researcher may be listed
// terms of fewer people than an anonymous caller (the signed-in list stayed in the form).
function forgetSignIn(words) {
  const asked = Boolean(state.shown) || state.askingKey !== null;
  if (state.asking) state.asking.abort();
  state.token = null; state.subject = null; state.issuer = null;
  $("who").textContent = words;
  showAccount();
  if (asked) {
    clearResults();
    state.askAgain = true;
    $("status").textContent = "Signed out: the answer asked signed in is no longer shown. " +
      "Search again to see what anonymous callers may see.";
    delete $("status").dataset.refused;
    state.refusedKey = null;
    $("retry").hidden = true;
  }
  relistAnonymous(words);
}

// The datasets and terms asked again as the caller now is. One that cannot be read (the node
// out of reach: the fetch rejects) is withdrawn as a refused one is, and read again when a
// search is answered (relist); the account box says so. Its rejection went unhandled, and
// the list read signed in stayed in the form.
async function relistAnonymous(words) {
  const [datasets, terms] = await Promise.allSettled([loadCatalogue(), loadTerms()]);
  if (state.token !== null) return;
  const unread = [datasets, terms].find((list) => list.status === "rejected");
  if (!unread) return;
  const why = `the node could not be reached: ${unread.reason.message}`;
  if (datasets.status === "rejected") {
    state.catalogue = new Map();
    state.catalogueLacks = true;
    state.catalogueRefused = why;
    renderDatasets();
  }
  if (terms.status === "rejected") {
    state.termsLacks = true;
    state.termsRefused = why;
    listTerms([]);
  }
  const lost = [datasets.status === "rejected" ? "datasets" : "", terms.status === "rejected" ? "diseases" : ""];
  state.withdrawn = { words, why, lists: lost.filter(Boolean) };
  sayWithdrawn();
}

// The account box names the lists withdrawn at sign-out (relistAnonymous) while they are:
// each read again (relist) is no longer named, and with none left the box says `words`
// alone. It said they were withdrawn after both were read again and shown whole beside it.
function sayWithdrawn() {
  const withdrawn = state.withdrawn;
  if (!withdrawn) return;
  const lacks = { datasets: state.catalogueLacks, diseases: state.termsLacks };
  withdrawn.lists = withdrawn.lists.filter((list) => lacks[list] === true);
  if (!withdrawn.lists.length) state.withdrawn = null;
  $("who").textContent = !withdrawn.lists.length ? withdrawn.words
    : `${withdrawn.words} The ${withdrawn.lists.join(" and the ")} listed to you signed in are ` +
      `withdrawn: they could not be asked again (${withdrawn.why}); they are asked again ` +
      "when a search is answered.";
}

function signOut() {
  forgetSignIn("Signed out: you see what anonymous callers may see.");
  $("sign-in").focus();
}

// A node refused the token (401: expired, or its issuer no longer trusted): the page forgets
// it, as it would be sent again with every search, and offers sign-in, which keeps the form
// and asks the refused search again (signIn, start).
function signInLost() {
  forgetSignIn("Signed out: your sign-in is no longer valid (expired or not trusted here).");
}

// ---------------------------------------------------------------- start
function entryChanged() {
  const individuals = entryType() === "individuals";
  $("individual-filters").hidden = !individuals;
  $("individual-filters").disabled = !individuals;
  $("q").labels[0].textContent = individuals ? "Variant, region or gene (optional)" : "Variant, region or gene";
}

function queryTyped() {
  const parsed = parseQuery($("q").value);
  $("q-parsed").textContent = parsed.error || parsed.reading || "";
}

// The datasets as this caller may list them; the list replaces the last one only when read
// whole (a search never finds a list half read), and only while the caller is the one it was
// asked for (a list asked signed in and answered after sign-out is dropped).
async function loadCatalogue() {
  const token = state.token;
  const { response, body } = await callApi(`${state.base}/datasets?limit=1000`);
  if (state.token !== token) return;
  state.catalogueLacks = lacking(response, body);
  state.catalogueRefused = response.ok ? null : refusedWords(response, body);
  const catalogue = new Map();
  const collections = response.ok ? objectOf(objectOf(body).response).collections : null;
  for (const d of (Array.isArray(collections) ? collections : []).map(objectOf)) {
    const info = objectOf(d.info), id = textOf(d.id), node = textOf(d.beaconId) || state.config.beaconId;
    if (!id) continue;
    catalogue.set(`${node}|${id}`, {
      id, node, description: textOf(d.description), keywords: textsOf(info.keywords).join(" "),
      title: textOf(d.name) || id, accessLevel: textOf(info.accessLevel), country: textOf(info.country),
      assembly: textOf(info.assembly), accessLinks: accessLinks(info),
      page: webLink(info.landingPage) || webLink(d.externalUrl) || webLink(info.externalUrl) });
  }
  state.catalogue = catalogue;
  renderDatasets();
}

// The nodes a list's answer lacks: those whose line in info.network.peers is not ok, or all
// (true) when the list was refused (the network's 503 when no peer could answer, a node's
// database outage); null when the list is whole.
function lacking(response, body) {
  if (!response.ok) return true;
  const lines = objectOf(objectOf(objectOf(body).info).network).peers;
  const down = (Array.isArray(lines) ? lines : []).map(objectOf)
    .filter((line) => line.status !== "ok").map((line) => textOf(line.id));
  return down.length ? new Set(down) : null;
}

// A list's refusal in the node's words ("the node answered 503: no peer of the network could
// answer: …"): a list refused was shown as empty, as if the caller might see nothing.
function refusedWords(response, body) {
  const message = textOf(objectOf(objectOf(body).error).errorMessage);
  return `the node answered ${response.status}${message ? `: ${message}` : ""}`;
}

// The datasets and terms are asked again when a search is answered by a node they lack: a
// page opened while its network (or its node's database) was down kept empty lists until
// reloaded, and every row of the answers after was untitled, without its access level and
// why more was not given. A node down throughout (its line not ok) is not asked for again.
async function relist(body) {
  const lines = objectOf(objectOf(body.info).network).peers;
  const answered = new Set((Array.isArray(lines) ? lines : [{ id: state.config.beaconId, status: "ok" }])
    .map(objectOf).filter((line) => line.status === "ok").map((line) => textOf(line.id)));
  const back = (lacks) => lacks === true || (lacks !== null && [...lacks].some((id) => answered.has(id)));
  await Promise.all([back(state.catalogueLacks) ? loadCatalogue() : null,
                     back(state.termsLacks) ? loadTerms() : null]
    .map((asked) => asked && asked.catch(() => { /* unreachable again: the lists stay */ })));
  sayWithdrawn();
}

// The nodes a list was read without (lacking), said after it: the list read as the
// network's whole while some of its nodes could not answer.
function missingWords(lacks) {
  if (!(lacks instanceof Set) || !lacks.size) return "";
  const nodes = [...lacks].slice(0, 5);
  if (lacks.size > nodes.length) nodes.push(`${lacks.size - nodes.length} more nodes`);
  const named = nodes.length === 1 ? nodes[0] : `${nodes.slice(0, -1).join(", ")} and ${nodes.at(-1)}`;
  return `; not listed: those of ${named}, which did not answer`;
}

// ---------------------------------------------------------------- finding a dataset
// The datasets this page can ask ({root}/datasets: the network's or the node's), filtered
// here by words and access level; "Search only this dataset" scopes the next searches to
// {root}/datasets/{id}/{entry}.
// Whether a dataset's id can be a path segment of its own ({root}/datasets/{id}/...): a
// peer's `..` or `.` is one the URL's dot segments remove, however encoded, so that "Search
// only this dataset" asked {root}/g_variants, the whole network, as that dataset alone
// (found by a review, 2026-12-06); `/` and `\` the node refuses in a path.
const addressable = (id) => typeof id === "string" && id !== "" &&
  !/^(\.|%2e){1,2}$/i.test(id) && !/[/\\]/.test(id);

function renderDatasets() {
  const words = $("dataset-filter").value.toLowerCase().split(/\s+/).filter(Boolean);
  const level = $("dataset-access").value;
  const found = [...state.catalogue.values()].filter((d) => (!level || d.accessLevel === level) &&
    words.every((w) => [d.id, d.title, d.description, d.keywords, d.country, d.node]
      .some((text) => text.toLowerCase().includes(w))));
  $("dataset-count").textContent = state.catalogueRefused
    ? `No dataset could be listed (${state.catalogueRefused}); the list is read again when a search is answered.`
    : `${found.length} of ${state.catalogue.size} dataset${state.catalogue.size === 1 ? "" : "s"}` +
      missingWords(state.catalogueLacks);
  $("dataset-list").replaceChildren(...found.map((d) => {
    let button = null;
    if (addressable(d.id)) {
      button = el("button", { type: "button", class: "scope-to",
                              "aria-label": `Search only this dataset: ${datasetName(d)}` },
                  "Search only this dataset");
      button.addEventListener("click", () => setScope(d));
    }
    return el("li", {}, el("strong", {}, d.title), " ",
      el("span", { class: "note" }, [d.id, d.node, d.country, d.accessLevel].filter(Boolean).join(" · ")),
      d.description ? el("span", { class: "note" }, d.description) : null, button);
  }));
}

// A dataset as the page names it where the name must tell it from the others: in the scope
// line, and in the accessible name of each button scoping to it (a screen reader's list of
// buttons read "Search only this dataset" once per dataset, none telling which).
const datasetName = (dataset) => `${dataset.title} (${dataset.id}, ${dataset.node})`;

// A dataset's positions are on its own assembly: a search scoped to it on the other one is
// refused by the node (docs/beacon.md), so the assembly chosen becomes the dataset's. Chosen
// by a button, the focus goes on to the query box (or back to the list when lifted).
function setScope(dataset, focus = true) {
  state.scope = dataset;
  const assembly = dataset && dataset.assembly;
  if (assembly && [...$("assembly").options].some((o) => o.value === assembly)) $("assembly").value = assembly;
  $("scope-line").hidden = !dataset;
  $("scope-name").textContent = dataset ? datasetName(dataset) : "";
  formChanged();
  if (focus) (dataset ? $("q") : $("dataset-filter")).focus();
}

// ---------------------------------------------------------------- the catalogue service
// When the node names a catalogue service (config.catalogue), the page searches it
// (GET {catalogue}/api/datasets; the catalogue answers this page's origin with CORS) and
// lists what it finds. A dataset that this page can also ask (it is among {root}/datasets)
// gets "Search this dataset", the same scope as the Datasets list's.
const CATALOGUE_ACCESS = { PUBLIC: "public", RESTRICTED: "restricted (registered access)",
                           NON_PUBLIC: "not public (controlled access)" };

// Why a dataset the page does not list may still be in the network: the datasets were
// refused (the network's 503 when no peer could answer), or its node did not answer when
// they were listed. It was said to be "not in this network". "" when neither.
function unlisted(node) {
  if (state.catalogueRefused) {
    return ` for now: the datasets could not be listed (${state.catalogueRefused})`;
  }
  return state.catalogueLacks instanceof Set && state.catalogueLacks.has(node)
    ? " for now: its node did not answer when the datasets were listed" : "";
}

function askable(found) {
  if (!addressable(found.identifier)) return null;
  const exact = state.catalogue.get(`${found.nodeId}|${found.identifier}`);
  if (exact) return exact;
  const same = [...state.catalogue.values()].filter((d) => d.id === found.identifier);
  return same.length === 1 ? same[0] : null;
}

// Only the latest catalogue search is shown: one started while another runs aborts it, whose
// late answer would otherwise replace the later one's list under the later one's words.
async function searchCatalogue(event) {
  if (event) event.preventDefault();
  const done = () => {
    document.body.dataset.catalogueSearches = String(Number(document.body.dataset.catalogueSearches || 0) + 1);
  };
  clearFormError("catalogue-form", "catalogue-error");
  const words = $("catalogue-q").value.trim();
  const country = $("catalogue-country").value.trim().toUpperCase();
  // a country is its ISO 3166-1 code, said at the field as the query form says its errors;
  // "F1" was sent, and its refusal said in the status line alone, the field not marked
  if (country && !/^[A-Z]{2}$/.test(country)) {
    showFormError({ field: "catalogue-country",
                    error: "Country: two letters, the country's ISO 3166-1 code (FI, SE)." },
                  "catalogue-error");
    done();
    return;
  }
  if (state.findingInCatalogue) state.findingInCatalogue.abort();
  const finding = new AbortController();
  state.findingInCatalogue = finding;
  const status = $("catalogue-status");
  const query = new URLSearchParams({ limit: "20" });
  if (words) query.set("q", words);
  if ($("catalogue-access").value) query.set("accessRights", $("catalogue-access").value);
  if (country) query.set("country", country);
  status.textContent = "Searching the catalogue…";
  let response, body;
  try {
    response = await fetch(`${state.config.catalogue}/api/datasets?${query}`,
                           { credentials: "omit", referrerPolicy: "no-referrer", signal: finding.signal });
    body = await response.json().catch(() => null);
    finding.signal.throwIfAborted();
  } catch (error) {
    if (!finding.signal.aborted) {        // else a later search shows its own answer
      status.textContent = `The catalogue could not be reached (${error.message}).`;
      $("catalogue-list").replaceChildren();
    }
    done();
    return;
  }
  if (!response.ok || !body) {
    // its message read as text or absent, as the rest of its answer (below): an object was
    // written "[object Object]", and one JavaScript cannot write as text ({"toString": 1})
    // threw, the status "Searching the catalogue…" for ever (found by a review, 2026-12-07)
    const message = textOf(objectOf(objectOf(body).error).message);
    status.textContent = sentence(`The catalogue answered ${response.status}${message ? `: ${message}` : ""}`);
    $("catalogue-list").replaceChildren();
    if (response.status === 400) catalogueFieldError(message);
    done();
    return;
  }
  // Another party's service: a value of another type than the page reads is read as absent,
  // as a peer's is (datasets that were no list threw, and the status said "Searching…" for ever)
  const datasets = (Array.isArray(body.datasets) ? body.datasets : []).map(objectOf).map((d) => ({
    identifier: textOf(d.identifier), title: textOf(d.title), nodeId: textOf(d.nodeId),
    country: textOf(d.country), accessRights: textOf(d.accessRights),
    description: textOf(d.description) }));
  const total = Number.isInteger(body.total) ? body.total : datasets.length;
  status.textContent = `${total} dataset${total === 1 ? "" : "s"} in the catalogue` +
    (datasets.length < total ? `; the first ${datasets.length} shown.` : ".");
  const here = state.base === "/network/api" ? "in this network" : "on this node";
  $("catalogue-list").replaceChildren(...datasets.map((found) => {
    const dataset = askable(found);
    let action;
    if (dataset) {
      action = el("button", { type: "button", class: "scope-to",
                              "aria-label": `Search this dataset: ${datasetName(dataset)}` },
                  "Search this dataset");
      action.addEventListener("click", () => setScope(dataset));
    } else {
      action = el("span", { class: "note" }, `Not searchable from this page${unlisted(found.nodeId) || `: not ${here}`}.`);
    }
    const access = Object.hasOwn(CATALOGUE_ACCESS, found.accessRights)
      ? CATALOGUE_ACCESS[found.accessRights] : found.accessRights;     // "constructor" as text
    const facts = [found.identifier, found.nodeId && `node ${found.nodeId}`, found.country, access];
    return el("li", {}, el("strong", {}, found.title || found.identifier), " ",
      el("span", { class: "note" }, facts.filter(Boolean).join(" · ")),
      found.description ? el("span", { class: "note" }, found.description) : null, action);
  }));
  done();
}

// The field a catalogue's 400 names (its message starts with the parameter: "country:
// Value error, 'XX' is not an ISO 3166-1 alpha-2 country code"), marked and described by
// the error in the form's words, as a node's 400 is at the query form (showNodeFieldError).
const CATALOGUE_FIELDS = { q: "catalogue-q", country: "catalogue-country",
                           accessRights: "catalogue-access" };

function catalogueFieldError(message) {
  const named = message.slice(0, Math.max(0, message.indexOf(": ")));
  if (!Object.hasOwn(CATALOGUE_FIELDS, named)) return;
  const field = $(CATALOGUE_FIELDS[named]);
  showFormError({ field: field.id, error: `${field.labels[0].textContent.trim()}: the catalogue ` +
                  `refused it (${message.replace(/\.$/, "")}).` }, "catalogue-error");
}

// The disease and phenotype terms this caller may be listed. The list replaces the last one
// whatever the answer (a refusal lists none: a list asked signed in never outlives sign-out),
// unless the caller changed while it was asked; a term chosen stays chosen if still listed.
async function loadTerms() {
  const token = state.token;
  const { response, body } = await callApi(`${state.base}/filtering_terms`);
  if (state.token !== token) return;
  state.termsLacks = lacking(response, body);
  state.termsRefused = response.ok ? null : refusedWords(response, body);
  const listed = response.ok ? objectOf(objectOf(body).response).filteringTerms : null;
  listTerms((Array.isArray(listed) ? listed : []).map(objectOf)
    .filter((t) => t.type === "ontology" && typeof t.id === "string" && !SEX_TERMS.has(t.id)));
}

function listTerms(terms) {
  const select = $("term");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "" }, "any"),
    ...terms.map((t) => el("option", { value: t.id }, textOf(t.label) ? `${t.label} (${t.id})` : t.id)));
  select.value = terms.some((t) => t.id === chosen) ? chosen : "";
}

async function start() {
  document.querySelectorAll('input[name="entry"]').forEach((r) => r.addEventListener("change", entryChanged));
  $("q").addEventListener("input", queryTyped);
  $("query-form").addEventListener("submit", search);
  $("query-form").addEventListener("input", formChanged);
  $("query-form").addEventListener("change", formChanged);
  $("export-csv").addEventListener("click", exportCsv);
  $("export-json").addEventListener("click", exportJson);
  $("retry").addEventListener("click", search);
  $("dataset-filter").addEventListener("input", renderDatasets);
  $("dataset-access").addEventListener("change", renderDatasets);
  $("scope-clear").addEventListener("click", () => setScope(null));
  // the skip link moves the focus itself: followed, its #results replaced the search's link
  // in the address bar (linkOf)
  document.querySelector("a.skip").addEventListener("click", (event) => {
    event.preventDefault();
    $("results").focus();
  });
  $("sign-in").addEventListener("click", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("catalogue-form").addEventListener("submit", searchCatalogue);
  state.config = await (await fetch("/web/config.json", { credentials: "omit" })).json();
  if (state.config.catalogue) {
    $("catalogue-where").textContent = state.config.catalogue;
    $("catalogue-search").hidden = false;
  }
  document.title = `${state.config.beaconName}: Beacon search`;
  $("title").textContent = state.config.beaconName;
  // the network's /info says how its peers fared in response.info.network (answers to
  // queries in info.network)
  const network = state.config.network ? await callApi("/network/api/info") : null;
  const described = network && network.body && network.body.response && network.body.response.info;
  state.peers = (described && described.network && described.network.peers) || [];
  // A network node whose /info was refused as the page opened (its 503 while busy) is
  // still a network: taken as a node without peers, the page asked its own empty /api
  // and said "not found" of what the network holds, until reloaded (found by a review,
  // 2026-12-06).
  // So is one that lists no node as the page opens: one taking its nodes from the catalogue
  // (peers_from_catalogue) before it could read it. Taken for a node without peers, the page
  // asked the node's own /api for every search until reloaded, "not found" of what the
  // network holds once its catalogue is read (found by a review, 2026-12-07).
  const undescribed = network !== null && !network.response.ok;
  state.base = network !== null ? "/network/api" : "/api";
  $("scope").textContent = state.peers.length
    ? `Searches the network through ${state.config.beaconId}: ${state.peers.length} node${state.peers.length > 1 ? "s" : ""} (${state.peers.map((p) => p.id).join(", ")}), each answering for its own datasets.`
    : undescribed
    ? `Searches the network through ${state.config.beaconId}, whose nodes could not be listed as the page opened (HTTP ${network.response.status}); each answer says which nodes answered.`
    : network !== null
    ? `Searches the network through ${state.config.beaconId}, which listed no node as the page opened (its nodes come from its catalogue); each answer says which nodes answered.`
    : `Searches the datasets of this node, ${state.config.beaconId}.`;
  state.issuers = await Promise.all((state.config.issuers || []).map(async (configured) => {
    const issuer = { ...configured, discovery: null };
    try {
      const discovery = await discover(configured);
      if (discovery && discovery.authorization_endpoint) issuer.discovery = discovery;
    } catch (_) { /* unreachable: not offered */ }
    return issuer;
  }));
  const usable = usableIssuers();
  if (state.issuers.length && !usable.length) {
    $("who").textContent = "Not signed in (the sign-in provider could not be reached).";
  }
  $("issuer").replaceChildren(...usable.map((i) => el("option", { value: i.issuer }, issuerName(i))));
  const pending = await finishSignIn().catch((e) => { $("who").textContent = `Sign-in failed: ${e.message}`; return null; });
  showAccount();
  if (state.token) showVisas();
  await Promise.all([loadCatalogue(), loadTerms()]);
  const linked = pending ? null : linkedForm();
  if (pending && pending.form) {
    restoreForm(pending.form);
    queryTyped();
    if (pending.searched && state.token) await search();
  } else if (linked) {
    await askLinked(linked);
  }
  window.addEventListener("hashchange", linkOpened);
  document.body.dataset.ready = "true";
}

start().catch((error) => {
  $("status").textContent = `The page could not start: ${error.message}`;
  document.body.dataset.ready = "error";
});
