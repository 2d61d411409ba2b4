// The search page: the search lives in the address (shareable; back and forward restore it), is
// sent to the JSON API, and its results are rendered as text, near-duplicates merged.
"use strict";

const form = document.getElementById("search-form");
const statusLine = document.getElementById("status");
const errorBox = document.getElementById("error");
const resultList = document.getElementById("results");
const submitButton = document.getElementById("submit");
const fieldSelect = document.getElementById("field");
const fieldHelp = document.getElementById("field-help");
const pager = document.getElementById("pager");
const previousButton = document.getElementById("previous");
const nextButton = document.getElementById("next");
const rangeText = document.getElementById("range");
const tokenInput = document.getElementById("token"); // present only where the service asks for one
// Paging reaches this many of a search's best matches (the API refuses offset + size beyond it).
const PAGE_WINDOW = Number(form.dataset.pageWindow);

// The token lives for this browser tab only, never in the page's address or in storage that outlasts it.
if (tokenInput) {
  tokenInput.value = sessionStorage.getItem("finnews-token") || "";
  tokenInput.addEventListener("change", () => sessionStorage.setItem("finnews-token", tokenInput.value));
}

// The search's state, as the address carries it: each parameter, the form control it fills, its default.
const PARAMETERS = [
  ["query", "query", ""],
  ["field", "field", fieldSelect.options[0].value],
  ["type", "doc_type", ""],
  ["source", "source", ""],
  ["sentiment", "sentiment", ""],
  ["from", "date_from", ""],
  ["to", "date_to", ""],
  ["order", "order", "relevance"],
  ["size", "size", document.getElementById("size").value],
];

function stateFromForm() {
  const state = { page: 1 };
  for (const [name, id] of PARAMETERS) state[name] = document.getElementById(id).value.trim();
  return state;
}

function stateFromAddress() {
  const params = new URLSearchParams(window.location.search);
  const state = {};
  for (const [name, , fallback] of PARAMETERS) state[name] = params.get(name) ?? fallback;
  const page = Number.parseInt(params.get("page") ?? "1", 10);
  state.page = Number.isFinite(page) && page > 0 ? page : 1;
  return state;
}

function addressOf(state) {
  const params = new URLSearchParams();
  for (const [name, , fallback] of PARAMETERS) if (state[name] && state[name] !== fallback) params.set(name, state[name]);
  if (state.page > 1) params.set("page", String(state.page));
  return `${window.location.pathname}?${params}`;
}

function fillForm(state) {
  for (const [name, id] of PARAMETERS) {
    const control = document.getElementById(id);
    control.value = state[name];
    // A value a select does not offer (an edited address) falls back to its first choice.
    if (control.tagName === "SELECT" && control.selectedIndex < 0) control.selectedIndex = 0;
  }
  showFieldHelp();
}

function showFieldHelp() {
  fieldHelp.textContent = fieldSelect.selectedOptions[0].dataset.help;
}

function element(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text) node.textContent = text; // textContent, never innerHTML: titles are data
  return node;
}

// -- errors, in people's words --------------------------------------------------------------
const FIELD_PROBLEMS = {
  query: "Type what to search for (at most 2,000 characters).",
  date_from: "The start date is not a valid date.",
  date_to: "The end date is not a valid date.",
  size: "Choose how many results to show per page.",
  offset: "That page does not exist: go back to the first page.",
  doc_types: "That type is not valid: choose one from the list.",
  sources: "That source is not valid: choose one from the list.",
  sentiments: "Choose positive, negative or neutral as the sentiment.",
  order: "Choose best match first or newest first.",
};

function sentenceFor(status, payload) {
  const code = payload && payload.error;
  const quote = payload && payload.request_id ? ` If it keeps happening, tell the service's operators: quote ${payload.request_id}.` : "";
  if (status === 401) {
    return tokenInput
      ? "The API token is missing or not valid: enter the token you were given."
      : "Your sign-in has expired: reload the page to sign in again.";
  }
  if (status === 429) return "Too many searches in a short time: wait a minute, then try again.";
  if (code === "validation_error") {
    const sentences = (payload.details || []).map((detail) => {
      if (detail.message.includes("date_from is after date_to")) return "The start date is after the end date.";
      if (detail.message.includes("offset + size")) return "That page is past the last one this search can show: go back a page.";
      return FIELD_PROBLEMS[detail.field.split(".")[0]] || `The search is not valid: ${detail.field}: ${detail.message}.`;
    });
    return [...new Set(sentences)].join(" ") || "The search is not valid: check the filters.";
  }
  if (code === "models_not_ready") return "The search service is starting: try again in a minute.";
  if (code === "store_unavailable") return "The news archive cannot be reached right now: try again in a minute.";
  if (code === "deadline_exceeded") return "The search took too long: try again, or narrow it with filters.";
  if (code === "index_model_mismatch") return `This model cannot search the archive right now: choose another model.${quote}`;
  if (code === "store_error") return `The news archive failed to answer: try again.${quote}`;
  return `The search failed (${payload ? payload.message : `HTTP ${status}`}): try again.${quote}`;
}

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = false;
  statusLine.textContent = "";
}

// -- results ----------------------------------------------------------------------------------
// Near-duplicates: the same title or the same summary once case, punctuation and spacing are set aside.
function normalised(text) {
  return (text || "").toLowerCase().replace(/[^\p{L}\p{N}]+/gu, " ").trim();
}

function mergeNearDuplicates(hits) {
  const groups = [];
  const groupOfKey = new Map();
  for (const hit of hits) {
    const keys = [`t:${normalised(hit.title)}`, hit.summary && `s:${normalised(hit.summary)}`].filter(Boolean);
    let group = keys.map((key) => groupOfKey.get(key)).find(Boolean);
    if (!group) {
      group = [];
      groups.push(group);
    }
    group.push(hit);
    for (const key of keys) groupOfKey.set(key, group);
  }
  return groups;
}

function titleOf(hit, tag) {
  const safeUrl = hit.url && /^https?:\/\//i.test(hit.url) ? hit.url : null;
  const heading = element(tag);
  heading.append(safeUrl ? element("a", { href: safeUrl, target: "_blank", rel: "noopener" }, hit.title)
                         : element("span", {}, hit.title));
  return heading;
}

function sentimentOf(hit) {
  const box = element("div", { class: "sentiment" });
  const label = hit.sentiment.label;
  box.append(element("span", { class: `badge ${label}` }, `${label[0].toUpperCase()}${label.slice(1)} tone`));
  const bars = element("ul", { class: "bars", "aria-label": "Sentiment probabilities" });
  for (const [label, probability] of Object.entries(hit.sentiment.scores)) {
    const percent = Math.round(probability * 100);
    const row = element("li", { class: `bar-row ${label}` });
    const bar = element("span", { class: "bar", "aria-hidden": "true" });
    const fill = element("span", { class: "fill" });
    fill.style.width = `${percent}%`; // CSSOM, which the style policy allows (no style attribute in markup)
    bar.append(fill);
    row.append(element("span", { class: "bar-label" }, label), bar, element("span", { class: "bar-value" }, `${percent}%`));
    bars.append(row);
  }
  box.append(bars);
  return box;
}

function metaOf(hit) {
  const meta = element("div", { class: "meta" });
  meta.append(
    element("time", { datetime: hit.published_dt }, hit.published_dt.slice(0, 10)),
    element("span", { class: "source" }, hit.source),
    element("span", { class: "doc-type" }, hit.doc_type.replace(/_/g, " ")),
    element("span", { class: "score" }, `Score ${hit.score.toFixed(3)}`),
  );
  return meta;
}

function renderGroup(group, index) {
  const [hit, ...similar] = group;
  const item = element("li", { class: "result", "data-id": hit.id });
  item.append(titleOf(hit, "h2"), metaOf(hit));
  if (hit.summary) item.append(element("p", { class: "summary" }, hit.summary));
  item.append(sentimentOf(hit));
  if (similar.length) {
    const listId = `similar-${index}`;
    const toggle = element("button", { type: "button", class: "similar-toggle", "aria-expanded": "false", "aria-controls": listId },
                           `${group.length} similar`);
    const list = element("ul", { class: "similar", id: listId, hidden: "" });
    for (const other of similar) {
      const entry = element("li", { class: "similar-item", "data-id": other.id });
      entry.append(titleOf(other, "h3"), metaOf(other));
      list.append(entry);
    }
    toggle.addEventListener("click", () => {
      const open = toggle.getAttribute("aria-expanded") === "true";
      toggle.setAttribute("aria-expanded", String(!open));
      list.hidden = open;
    });
    item.append(toggle, list);
  }
  return item;
}

function showRange(state, payload) {
  const first = (state.page - 1) * Number(state.size) + 1;
  const last = first + payload.results.length - 1;
  const total = `${payload.total.value}${payload.total.relation === "gte" ? "+" : ""}`;
  rangeText.textContent = `${first}-${last} of ${total}`;
  const reachable = Math.min(payload.total.value, PAGE_WINDOW);
  previousButton.disabled = state.page <= 1;
  nextButton.disabled = last >= reachable;
  pager.hidden = false;
  return `${first}-${last} of ${total}`;
}

// -- searching ---------------------------------------------------------------------------------
let current = null; // the state the results on screen answer
let asked = 0; // the latest search sent: an older answer arriving later is dropped

function requestBody(state) {
  const size = Number(state.size);
  const body = { query: state.query, size, offset: (state.page - 1) * size, order: state.order };
  if (state.type) body.doc_types = [state.type];
  if (state.source) body.sources = [state.source];
  if (state.sentiment) body.sentiments = [state.sentiment];
  if (state.from) body.date_from = state.from;
  if (state.to) body.date_to = state.to;
  return body;
}

function clearResults() {
  errorBox.hidden = true;
  resultList.replaceChildren();
  pager.hidden = true;
  statusLine.textContent = "";
}

async function search(state) {
  const mine = ++asked;
  clearResults();
  current = state;
  if (!state.query) return;
  statusLine.textContent = "Searching…";
  submitButton.disabled = true;
  try {
    const response = await fetch(`/search/cosine/${encodeURIComponent(state.field)}/`, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        ...(tokenInput ? { Authorization: `Bearer ${tokenInput.value}` } : {}),
      },
      body: JSON.stringify(requestBody(state)),
    });
    const payload = await response.json().catch(() => null);
    if (mine !== asked) return;
    if (!response.ok) {
      showError(sentenceFor(response.status, payload));
      return;
    }
    if (!payload.results.length) {
      statusLine.textContent = state.page > 1
        ? "No results on this page: go back a page."
        : "No results: try other words, fewer filters or a wider date range.";
      return;
    }
    const groups = mergeNearDuplicates(payload.results);
    resultList.replaceChildren(...groups.map(renderGroup));
    const merged = payload.results.length - groups.length;
    statusLine.textContent = `Results ${showRange(state, payload)}` +
      (merged ? `; ${merged} near-duplicate${merged > 1 ? "s" : ""} merged` : "");
  } catch (err) {
    if (mine === asked) showError("The search service could not be reached: check your connection, then try again.");
  } finally {
    if (mine === asked) submitButton.disabled = false;
  }
}

function go(state) {
  window.history.pushState(null, "", addressOf(state));
  return search(state);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  go(stateFromForm());
});

fieldSelect.addEventListener("change", showFieldHelp);

for (const [button, step] of [[previousButton, -1], [nextButton, 1]]) {
  button.addEventListener("click", () => {
    go({ ...current, page: current.page + step }).then(() => resultList.focus());
  });
}

// The search an address asks for, as the form shows it: a value the form cannot show (a model
// or page size it does not offer, an impossible date) is not searched for unseen.
function openAddress() {
  const state = stateFromAddress();
  fillForm(state);
  return search({ ...stateFromForm(), page: state.page });
}

window.addEventListener("popstate", openAddress);
openAddress(); // a shared address runs its search on arrival
