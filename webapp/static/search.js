// The search page: sends the form to the JSON API and renders results or the API's error.
"use strict";

const form = document.getElementById("search-form");
const statusLine = document.getElementById("status");
const errorBox = document.getElementById("error");
const resultList = document.getElementById("results");
const submitButton = document.getElementById("submit");
const tokenInput = document.getElementById("token"); // present only where the service asks for one

// The token lives for this browser tab only, never in the page's address or in storage that outlasts it.
if (tokenInput) {
  tokenInput.value = sessionStorage.getItem("finnews-token") || "";
  tokenInput.addEventListener("change", () => sessionStorage.setItem("finnews-token", tokenInput.value));
}

function element(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text) node.textContent = text; // textContent, never innerHTML: titles are data
  return node;
}

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = false;
  statusLine.textContent = "";
}

function renderResult(hit) {
  const item = element("li", { class: "result", "data-id": hit.id });
  const heading = element("h2");
  const safeUrl = hit.url && /^https?:\/\//i.test(hit.url) ? hit.url : null;
  heading.append(safeUrl ? element("a", { href: safeUrl, target: "_blank", rel: "noopener" }, hit.title)
                         : element("span", {}, hit.title));
  const meta = element("div", { class: "meta" });
  meta.append(
    element("time", { datetime: hit.published_dt }, hit.published_dt.slice(0, 10)),
    element("span", { class: "source" }, hit.source),
    element("span", { class: "score", title: "(1 + cosine) / 2" }, `score ${hit.score.toFixed(3)}`),
    element("span", { class: `badge ${hit.sentiment.label}`,
                      title: Object.entries(hit.sentiment.scores).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ") },
            hit.sentiment.label),
  );
  item.append(heading, meta);
  if (hit.summary) item.append(element("p", { class: "summary" }, hit.summary));
  return item;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  errorBox.hidden = true;
  resultList.replaceChildren();
  const data = new FormData(form);
  const body = { query: data.get("query"), size: Number(data.get("size")) };
  if (data.get("date_from")) body.date_from = data.get("date_from");
  if (data.get("date_to")) body.date_to = data.get("date_to");
  statusLine.textContent = "Searching…";
  submitButton.disabled = true;
  try {
    const response = await fetch(`/search/cosine/${encodeURIComponent(data.get("field"))}/`, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        ...(tokenInput ? { Authorization: `Bearer ${tokenInput.value}` } : {}),
      },
      body: JSON.stringify(body),
    });
    const payload = await response.json().catch(() => null);
    if (!response.ok) {
      const fields = payload && payload.details && payload.details.length
        ? ` (${payload.details.map((d) => `${d.field}: ${d.message}`).join("; ")})` : "";
      showError(`${payload ? payload.message : `HTTP ${response.status}`}${fields}`);
      return;
    }
    resultList.replaceChildren(...payload.results.map(renderResult));
    statusLine.textContent = payload.results.length
      ? `${payload.results.length} results in ${payload.search_time_ms.toFixed(0)} ms`
      : "No results: try other words or a wider date range.";
  } catch (err) {
    showError(`The search service could not be reached: ${err.message}`);
  } finally {
    submitButton.disabled = false;
  }
});
