// The shopgraph page: search (text or photo) with facets, product pages, the match review queue.
// Plain JavaScript over the JSON API; every value is put in the page as text (never as HTML).
"use strict";

const state = { photo: null, photoUrl: null, platforms: [], queue: 0, last: [] };
const RANK_NAMES = { hybrid: "best match", auto: "vectors only", fused: "text + photo", text: "product text", image: "product photo" };
const SORT_NAMES = { relevance: "relevance", price_asc: "price, lowest first", price_desc: "price, highest first" };
const PAGE = 24;

// -- small helpers ---------------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function show(...nodes) {
  const view = document.getElementById("view");
  view.replaceChildren(...nodes);
  window.scrollTo(0, 0);
}

function say(text, kind) {
  const box = document.getElementById("message");
  box.textContent = text || "";
  box.className = "message " + (kind || "info");
  box.hidden = !text;
}

function apiKey() { return sessionStorage.getItem("shopgraph-key") || ""; }

async function api(path, options) {
  const opts = Object.assign({ headers: {} }, options || {});
  if (opts.json !== undefined) {
    opts.body = JSON.stringify(opts.json);
    opts.headers["Content-Type"] = "application/json";
    delete opts.json;
  }
  if (opts.keyed && apiKey()) opts.headers["X-API-Key"] = apiKey();
  delete opts.keyed;
  const response = await fetch(path, opts);
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    const reason = body && body.detail ? body.detail : response.statusText;
    throw new Error(`${response.status}: ${reason}`);
  }
  return body;
}

function price(p) {
  if (p.price === null || p.price === undefined) return "no price";
  return `${p.price.toFixed(2)} ${p.currency || ""}`.trim();
}

function thumb(product, size) {
  if (!product || !product.image_url) return el("div", { class: "noimg" }, "no image");
  return el("img", { src: `${product.image_url}&size=${size || 320}`, alt: product.title, loading: "lazy" });
}

function productLink(product, text) {
  return el("a", { href: "#/product?id=" + encodeURIComponent(product.id), class: "plink" }, text || product.title);
}

function evidenceList(items) {
  if (!items || !items.length) return null;
  return el("ul", { class: "evidence" }, items.map((e) => {
    const values = Object.entries(e.values || {}).slice(0, 3)
      .map(([k, v]) => `${k}=${typeof v === "number" ? +v.toFixed(3) : v}`).join(", ");
    const effect = `${e.effect >= 0 ? "+" : ""}${e.effect.toFixed(2)}`;
    // Plain words when the edge carries them (the feature values behind them on hover); edges written
    // before evidence had words show the feature group and its values.
    if (e.says) return el("li", { class: e.effect >= 0 ? "for" : "against", title: values || null }, `${e.says} (${effect})`);
    return el("li", { class: e.effect >= 0 ? "for" : "against" },
      `${e.group} ${effect}`, values ? el("span", { class: "vals" }, ` (${values})`) : null);
  }));
}

// -- routing: #/ (search), #/product?id=..., #/review ------------------------------------------
function route() {
  const hash = location.hash || "#/";
  if (hash.startsWith("#key=")) {   // a link printed by `shopgraph serve` carries the API key
    sessionStorage.setItem("shopgraph-key", decodeURIComponent(hash.slice(5)));
    history.replaceState(null, "", location.pathname + "#/");
    return route();
  }
  const [path, query] = hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  say("");
  document.getElementById("nav-review").classList.toggle("active", path === "/review");
  document.getElementById("nav-search").classList.toggle("active", path !== "/review");
  if (path === "/product" && params.get("id")) return productPage(params.get("id"));
  if (path === "/review") return reviewPage();
  document.getElementById("rank-by").value = RANK_NAMES[params.get("rank_by")] ? params.get("rank_by") : "hybrid";
  if (params.get("photo") && state.photo) return runSearch(params);
  state.photo = null;  // a photo search cannot be reloaded from the address alone
  if (params.get("q")) {
    document.getElementById("q").value = params.get("q");
    return runSearch(params);
  }
  return home();
}

async function home() {
  show(el("section", { class: "home" }, el("h1", {}, "Search the product graph"),
    el("p", {}, "Type what you are looking for, or choose a photo. Open a product to see its brand, category, ",
      "neighbours and its listings on other platforms; the review queue holds uncertain matches.")));
}

// -- search ----------------------------------------------------------------------------------
async function runSearch(params) {
  const view = el("div", { class: "searching" }, "Searching…");
  show(view);
  const started = performance.now();
  let data;
  try {
    if (state.photo) {
      const form = new FormData();
      form.append("image", state.photo);
      const text = params.get("q");
      if (text) form.append("q", text);
      form.append("k", String(PAGE));
      for (const name of ["brand", "platform"]) params.getAll(name).forEach((v) => form.append(name, v));
      for (const name of ["category", "rank_by", "offset", "sort"]) if (params.get(name)) form.append(name, params.get(name));
      data = await api("/api/search", { method: "POST", body: form });
    } else {
      const query = new URLSearchParams(params);
      query.delete("photo");
      query.set("k", String(PAGE));
      data = await api("/api/search?" + query.toString());
    }
  } catch (error) {
    show(el("p", { class: "empty" }, "No results."));
    return say(error.message, "error");
  }
  const elapsed = Math.round(performance.now() - started);
  show(el("div", { class: "layout" }, facetPanel(data.facets, params), resultsGrid(data, params, elapsed)));
}

function facetPanel(facets, params) {
  const groups = [["brand", "Brand"], ["category", "Category"], ["platform", "Platform"]];
  return el("aside", { class: "facets", id: "facets" }, groups.map(([name, title]) => {
    const chosen = params.getAll(name);
    const values = facets[name] || [];
    if (!values.length && !chosen.length) return null;
    return el("section", { class: "facet", "data-facet": name }, el("h3", {}, title),
      chosen.map((v) => el("a", { class: "chosen", href: "#/?" + without(params, name, v) }, "× " + v)),
      values.filter((f) => !chosen.includes(f.value)).map((f) => {
        const depth = name === "category" ? f.value.split(" > ").length - 1 : 0;
        const label = name === "category" ? f.value.split(" > ").pop() : f.value;
        return el("a", { class: "option", style: null, "data-depth": depth, href: "#/?" + withValue(params, name, f.value) },
          label, el("span", { class: "count" }, f.count));
      }));
  }));
}

function withValue(params, name, value) {
  const next = new URLSearchParams(params);
  if (name === "category") next.set(name, value); else next.append(name, value);
  return next.toString();
}

function without(params, name, value) {
  const next = new URLSearchParams();
  for (const [k, v] of params) if (!(k === name && v === value)) next.append(k, v);
  return next.toString();
}

function queryPhoto() {
  // The photo searched with, shown beside the results (a blob: URL of the chosen file, made once per file).
  if (!state.photo) return null;
  if (!state.photoUrl || state.photoUrl.file !== state.photo) {
    if (state.photoUrl) URL.revokeObjectURL(state.photoUrl.url);
    state.photoUrl = { file: state.photo, url: URL.createObjectURL(state.photo) };
  }
  return el("img", { class: "query-photo", id: "query-photo", src: state.photoUrl.url, alt: "the photo searched with" });
}

function resultsGrid(data, params, elapsed) {
  const what = state.photo ? `photo ${state.photo.name}` + (params.get("q") ? ` + “${params.get("q")}”` : "") : `“${params.get("q")}”`;
  const ranked = params.get("rank_by") ? ` · ranked by ${RANK_NAMES[params.get("rank_by")] || params.get("rank_by")}` : "";
  const matching = data.total === null || data.total === undefined ? "" : ` · ${data.total} matching`;
  const head = el("div", { class: "summary" }, queryPhoto(),
    el("p", {}, `${data.results.length} results for ${what}${ranked}${matching} · server ${data.took_ms} ms, page ${elapsed} ms`),
    sortChoice(params));
  const warning = data.no_close_match
    ? el("p", { class: "no-match", id: "no-close-match" }, "No close match: these results only partly match your search.")
    : null;
  if (!data.results.length) return el("section", { class: "results" }, head, el("p", { class: "empty" }, "No products match."));
  return el("section", { class: "results" }, head, warning,
    el("div", { class: "grid", id: "results" }, data.results.map((hit) => card(hit))), pager(data, params));
}

// Sort and paging change the address; the route then searches again (the photo stays in state).
function withParams(params, changes) {
  const next = new URLSearchParams(params);
  for (const [name, value] of Object.entries(changes)) {
    if (value === null) next.delete(name); else next.set(name, value);
  }
  return "#/?" + next.toString();
}

function sortChoice(params) {
  const select = el("select", { id: "sort", "aria-label": "sort by" },
    Object.entries(SORT_NAMES).map(([value, name]) => el("option", { value }, "Sort by " + name)));
  select.value = SORT_NAMES[params.get("sort")] ? params.get("sort") : "relevance";
  select.addEventListener("change", () => {
    location.hash = withParams(params, { sort: select.value === "relevance" ? null : select.value, offset: null });
  });
  return select;
}

function pager(data, params) {
  const offset = Number(params.get("offset") || 0);
  const links = [];
  if (offset > 0) links.push(el("a", { href: withParams(params, { offset: offset > PAGE ? String(offset - PAGE) : null }), id: "previous-page" }, "‹ Previous"));
  if (data.results.length === PAGE) links.push(el("a", { href: withParams(params, { offset: String(offset + PAGE) }), id: "next-page" }, "Next ›"));
  return el("nav", { class: "pager" }, links);
}

function card(hit) {
  const p = hit.product;
  return el("article", { class: "card", "data-id": p.id },
    el("a", { href: "#/product?id=" + encodeURIComponent(p.id), class: "imglink" }, thumb(p)),
    el("div", { class: "body" },
      productLink(p),
      el("div", { class: "meta" }, el("span", { class: "brandname" }, p.brand || "no brand"), el("span", { class: "price" }, price(p))),
      el("div", { class: "meta" }, el("span", { class: "platform" }, p.platform),
        el("span", { class: "score", title: "score; channels: " + (hit.matched_by.join("+") || "-") }, hit.score.toFixed(3))),
      el("div", { class: "meta" },
        el("span", { class: "strength strength-" + (hit.strength || "none"), title: "how well it matches the search" }, hit.strength ? hit.strength + " match" : ""),
        el("span", { class: "channels", title: "the channels that found it" }, hit.matched_by.join(" + ")))));
}

// -- product page ----------------------------------------------------------------------------
async function productPage(id) {
  show(el("div", { class: "searching" }, "Loading…"));
  let page;
  try {
    page = await api("/api/product?id=" + encodeURIComponent(id));
  } catch (error) {
    show(el("p", { class: "empty" }, "No such product."));
    return say(error.message, "error");
  }
  const p = page.product;
  const others = state.platforms.filter((name) => name !== p.platform);
  const matchBox = el("div", { id: "match-results" });
  show(el("article", { class: "product", id: "product", "data-id": p.id },
    el("div", { class: "hero" },
      el("div", { class: "bigimg" }, thumb(p, 480)),
      el("div", { class: "facts" },
        el("h1", {}, p.title),
        el("p", { class: "crumbs" }, page.category_path.length ? page.category_path.join(" › ") : "no category"),
        el("table", { class: "kv" },
          row("Brand", page.brand ? page.brand.display_name || page.brand.name : "—"),
          row("Price", price(p)), row("Platform", p.platform), row("Id", p.id),
          row("Users who interacted", page.users)),
        p.description ? el("p", { class: "description" }, p.description) : null,
        others.length ? el("div", { class: "actions" }, others.map((name) =>
          el("button", { type: "button", class: "secondary", onclick: () => findMatches(p.id, name, matchBox) }, `Find matches on ${name}`))) : null,
        matchBox)),
    el("h2", {}, "Same product on other platforms"),
    page.same_as.length ? listingTable(page.same_as, "same-as") : el("p", { class: "empty" }, "No SAME_AS listings yet."),
    page.different_from.length ? [el("h2", {}, "Known to be different"), listingTable(page.different_from, "different")] : null,
    page.also_bought.length ? [el("h2", {}, "Bought together"),
      el("ul", { class: "plain" }, page.also_bought.map((b) => el("li", {}, productLink(b.product), ` (${b.weight ?? ""})`)))] : null,
    el("h2", {}, "Nearest products"),
    el("div", { class: "grid small", id: "similar" }, page.similar.map((hit) => card(hit)))));
}

function row(key, value) { return el("tr", {}, el("th", {}, key), el("td", {}, value)); }

function listingTable(listings, id) {
  return el("table", { class: "listings", id },
    el("tr", {}, ["", "Listing", "Platform", "Price", "Status", "Score", "Evidence"].map((h) => el("th", {}, h))),
    listings.map((l) => el("tr", { "data-id": l.product.id },
      el("td", { class: "t" }, thumb(l.product, 96)), el("td", {}, productLink(l.product)), el("td", {}, l.product.platform),
      el("td", {}, price(l.product)), el("td", {}, el("span", { class: "status " + l.status }, l.status)),
      el("td", {}, l.score === null ? "—" : l.score.toFixed(3)), el("td", {}, evidenceList(l.evidence) || "—"))));
}

async function findMatches(id, platform, box) {
  box.replaceChildren(el("p", {}, `Scoring listings on ${platform}…`));
  try {
    const data = await api(`/api/match?id=${encodeURIComponent(id)}&platform=${encodeURIComponent(platform)}&limit=5`);
    const scorer = data.proposals.length && data.proposals[0].scorer;
    // Say which scorer spoke: the ready one knows other catalogs, not this pair's labels.
    const who = scorer ? el("p", { class: "scorer" }, scorer.kind === "ready"
      ? `Scored by the ready scorer shipped with shopgraph (${scorer.version}, trained on ${scorer.trained_on.join(", ")}); label matches and train one for these platforms.`
      : `Scored by the scorer trained on ${scorer.trained_on.join(", ")} (${scorer.version}).`,
      scorer.rerank ? ` Candidates picked from a deeper pool ordered by the ${scorer.rerank.kind} scorer (${scorer.rerank.version}).` : "") : null;
    box.replaceChildren(who || "", el("table", { class: "listings" },
      el("tr", {}, ["Proposed listing", "Score", "Status", "Evidence"].map((h) => el("th", {}, h))),
      data.proposals.map((m) => el("tr", {}, el("td", {}, m.product ? productLink(m.product) : m.dst),
        el("td", {}, m.score.toFixed(3)), el("td", {}, el("span", { class: "status " + m.status.replace(" ", "-") }, m.status)),
        el("td", {}, evidenceList(m.evidence) || "—")))));
  } catch (error) {
    box.replaceChildren();
    say(error.message, "error");
  }
}

// -- review queue ----------------------------------------------------------------------------
function setQueueCount(n) {
  state.queue = n;
  document.getElementById("review-count").textContent = `(${n})`;
  const head = document.getElementById("queue-count");
  if (head) head.textContent = String(n);
}

async function reviewPage() {
  show(el("div", { class: "searching" }, "Loading the review queue…"));
  let data;
  try {
    data = await api("/api/review?limit=50");
  } catch (error) {
    show(el("p", { class: "empty" }, "The review queue cannot be read."));
    return say(error.message, "error");
  }
  const keyInput = el("input", { id: "api-key", type: "password", placeholder: "API key (for decisions)", value: apiKey(),
    onchange: (e) => sessionStorage.setItem("shopgraph-key", e.target.value.trim()) });
  const cards = data.items.map((item) => reviewCard(item));
  const bulk = el("div", { class: "bulk", id: "bulk" },
    el("label", {}, el("input", { type: "checkbox", id: "pick-all", "aria-label": "select every pair",
      onchange: (e) => cards.forEach((c) => { const box = c.querySelector("input.pick"); if (!box.disabled) box.checked = e.target.checked; }) }),
      " Select all"),
    el("button", { type: "button", id: "bulk-accept", class: "accept", onclick: () => decideSelected(cards, "accept") }, "Accept selected"),
    el("button", { type: "button", id: "bulk-reject", class: "reject", onclick: () => decideSelected(cards, "reject") }, "Reject selected"));
  show(el("section", { class: "review" },
    el("div", { class: "reviewhead" },
      el("h1", {}, "Matches waiting for review (", el("span", { id: "queue-count" }, String(data.waiting)), ")"), keyInput),
    data.items.length ? [bulk, el("div", { id: "queue" }, cards)] : el("p", { class: "empty" }, "Nothing waiting for review.")));
  setQueueCount(data.waiting);
}

function reviewCard(item) {
  const side = (product, id, title) => el("div", { class: "side" }, thumb(product, 160),
    product ? productLink(product) : el("span", {}, title || id),
    product ? el("div", { class: "meta" }, el("span", { class: "platform" }, product.platform), el("span", { class: "price" }, price(product))) : null);
  const node = el("article", { class: "pair", "data-src": item.src, "data-dst": item.dst },
    el("input", { type: "checkbox", class: "pick", "aria-label": `select ${item.src} and ${item.dst}` }),
    side(item.src_product, item.src, item.src_title), side(item.dst_product, item.dst, item.dst_title),
    el("div", { class: "verdict" },
      el("div", { class: "score" }, item.score === null ? "—" : item.score.toFixed(3)),
      evidenceList(item.evidence),
      el("button", { type: "button", class: "accept", onclick: () => decideMany([[item, node]], "accept") }, "Accept"),
      el("button", { type: "button", class: "reject", onclick: () => decideMany([[item, node]], "reject") }, "Reject")));
  return node;
}

function markDecided(node, stateName) {
  node.classList.add("decided", stateName);
  node.querySelectorAll("button, input.pick").forEach((b) => { b.disabled = true; });
  node.querySelector("input.pick").checked = false;
  node.querySelector(".verdict").append(el("div", { class: "state" }, stateName));
}

function markOpen(node) {
  node.classList.remove("decided", "accepted", "rejected");
  node.querySelectorAll("button, input.pick").forEach((b) => { b.disabled = false; });
  const shown = node.querySelector(".state");
  if (shown) shown.remove();
}

function decideSelected(cards, decision) {
  const chosen = cards.filter((c) => c.querySelector("input.pick").checked && !c.classList.contains("decided"));
  if (!chosen.length) return say("Select the pairs first (the box at the left of each).", "error");
  return decideMany(chosen.map((node) => [{ src: node.dataset.src, dst: node.dataset.dst }, node]), decision);
}

// Decisions are sent one pair at a time; those that succeed can be undone together ("Undo").
async function decideMany(pairs, decision) {
  if (!apiKey()) return say("Enter the API key first (it is printed when the server starts).", "error");
  const done = [];
  let failure = null;
  for (const [item, node] of pairs) {
    try {
      const result = await api("/api/review", { method: "POST", keyed: true, json: { src: item.src, dst: item.dst, decision } });
      markDecided(node, result.state);
      done.push([item, node, result.state]);
      setQueueCount(state.queue - 1);
    } catch (error) {
      failure = `${item.src} → ${item.dst}: ${error.message}`;
      break;
    }
  }
  state.last = done;
  const what = done.length === 1 ? `${done[0][0].src} → ${done[0][0].dst}: ${done[0][2]}` : `${done.length} pairs ${decision}ed`;
  if (failure) say((done.length ? what + "; " : "") + failure, "error");
  else say(what, "ok");
  if (done.length) document.getElementById("message").append(" ",
    el("button", { type: "button", id: "undo", class: "secondary", onclick: undoLast }, "Undo"));
}

async function undoLast() {
  const pairs = state.last;
  state.last = [];
  let undone = 0;
  for (const [item, node] of pairs.slice().reverse()) {
    try {
      await api("/api/review", { method: "POST", keyed: true, json: { src: item.src, dst: item.dst, decision: "undo" } });
      markOpen(node);
      setQueueCount(state.queue + 1);
      undone += 1;
    } catch (error) {
      return say(`${item.src} → ${item.dst}: ${error.message}`, "error");
    }
  }
  say(undone === 1 ? "Decision undone." : `${undone} decisions undone.`, "ok");
}

// -- start -----------------------------------------------------------------------------------
function submitSearch(event) {
  event.preventDefault();
  const text = document.getElementById("q").value.trim();
  const file = document.getElementById("photo").files[0] || null;
  if (!text && !file) return say("Type some words or choose a photo.", "error");
  state.photo = file;
  const params = new URLSearchParams();
  if (text) params.set("q", text);
  const rank = document.getElementById("rank-by").value;
  if (rank !== "hybrid") params.set("rank_by", rank);
  const target = "#/?" + params.toString() + (file ? "&photo=" + Date.now() : "");
  if (location.hash === target) route(); else location.hash = target;
}

async function start() {
  document.getElementById("search-form").addEventListener("submit", submitSearch);
  document.getElementById("photo").addEventListener("change", (e) => {
    const file = e.target.files[0];
    document.getElementById("photo-label").textContent = file ? file.name : "Photo…";
    if (!file) state.photo = null;
  });
  window.addEventListener("hashchange", route);
  try {
    const [health, platforms, queue] = await Promise.all([api("/api/health"), api("/api/platforms"),
      api("/api/review?limit=1")]);
    state.platforms = platforms;
    setQueueCount(queue.waiting);
    // Ranking by the products' text or photo alone needs the learned image-text space.
    for (const value of ["text", "image"]) {
      const option = document.querySelector(`#rank-by option[value="${value}"]`);
      option.disabled = !health.aligned;
      option.title = health.aligned ? "" : "needs a trained alignment model (shopgraph train)";
    }
    document.getElementById("footer").textContent =
      `${health.products.toLocaleString()} products on ${platforms.join(", ")} · ${health.store}` + (health.read_only ? " · read-only" : "");
  } catch (error) {
    say(error.message, "error");
  }
  route();
}

document.addEventListener("DOMContentLoaded", start);
