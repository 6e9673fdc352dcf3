// The Sync Queue: talks to /api/v1 only, with the token the person gives (kept for this tab only).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { project: null, local: null, remote: null, page: 1, total: 0, selected: null, sites: [], projects: [], running: {} };
const api = "/api/v1";

function token() { return sessionStorage.getItem("sitesync-token") || ""; }

async function call(method, path, body) {
  const headers = {};
  if (token()) headers["Authorization"] = "Bearer " + token();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(api + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401) { askToken(); throw new Error("this server needs a token"); }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error((data.error && data.error.message) || res.statusText);
  return data;
}

function show(text, info) {
  const m = $("message");
  m.textContent = text; m.hidden = !text; m.className = info ? "info" : "";
  if (info) setTimeout(() => { if (m.textContent === text) m.hidden = true; }, 4000);
}

function askToken() { $("token-form").hidden = false; $("token-input").focus(); }

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

function size(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

function when(iso) { return iso ? new Date(iso).toLocaleString() : "—"; }

// `{root[work]}/robots/shots/sh010/…/big.exr` → `shots/sh010/…/big.exr`: the project is already chosen.
function shortPath(path, project) {
  const parts = path.split("/");
  const start = parts[0].startsWith("{root") ? (parts[1] === project ? 2 : 1) : 0;
  return parts.slice(start).join("/");
}

function pill(status) { return el("span", { class: "pill " + (status || "none") }, (status || "not here").replace("_", " ")); }

function bar(done, total) {
  const pct = total > 0 ? Math.min(100, Math.round(100 * done / total)) : 100;
  const i = el("i"); i.style.width = pct + "%";
  return el("span", { class: "bar" + (pct >= 100 ? " done" : ""), role: "progressbar", "aria-valuenow": pct, "aria-valuemin": 0, "aria-valuemax": 100 }, i);
}

// MARK: projects and sites

async function loadProjects() {
  const data = await call("GET", "/projects");
  state.projects = data.projects;
  const sel = $("project"); sel.replaceChildren();
  for (const p of data.projects) sel.append(el("option", { value: p.name }, p.name));
  const wanted = new URLSearchParams(location.hash.slice(1)).get("project");
  state.project = (data.projects.find((p) => p.name === wanted) || data.projects[0] || {}).name || null;
  sel.value = state.project || "";
  await loadSites();
}

function project() { return state.projects.find((p) => p.name === state.project); }

async function loadSites() {
  if (!state.project) return;
  const data = await call("GET", "/projects/" + encodeURIComponent(state.project) + "/sites");
  state.sites = data.sites;
  const p = project();
  for (const [id, fallback] of [["local-site", p.active_site], ["remote-site", p.remote_site]]) {
    const sel = $(id); const keep = sel.value; sel.replaceChildren();
    for (const s of data.sites) sel.append(el("option", { value: s.name }, s.name + (s.roles.includes("this machine") ? " (this machine)" : "")));
    sel.value = data.sites.some((s) => s.name === keep) ? keep : fallback;
  }
  state.local = $("local-site").value; state.remote = $("remote-site").value;
  $("local-head").textContent = "Local: " + state.local; $("remote-head").textContent = "Remote: " + state.remote;
  $("pause-project").textContent = p.paused ? "Resume project" : "Pause project";
  drawSites();
}

function drawSites() {
  const rows = $("site-rows"); rows.replaceChildren();
  for (const s of state.sites) {
    const h = s.health;
    const health = h ? el("span", { class: h.ok ? "site-ok" : "site-bad", title: h.message || "checked " + when(h.checked_at) }, h.ok ? "● up" : "● down") : el("span", {}, "—");
    rows.append(el("tr", {}, el("td", {}, s.name), el("td", {}, s.provider), el("td", {}, s.roles.join(", ")), el("td", {}, health)));
    if (h && !h.ok) rows.append(el("tr", {}, el("td", { colspan: 4, class: "site-bad" }, h.message)));
  }
}

// MARK: the table

function query() {
  const q = new URLSearchParams({ page: state.page, page_size: $("page-size").value, sort: $("sort").value, order: $("order").value });
  if ($("q").value.trim()) q.set("q", $("q").value.trim());
  if ($("status").value) { q.set("site", state.local); q.set("status", $("status").value); }
  return q;
}

async function loadTable() {
  if (!state.project) { $("rows").replaceChildren(el("tr", {}, el("td", { colspan: 8 }, "No project yet: publish something first."))); return; }
  const data = await call("GET", "/projects/" + encodeURIComponent(state.project) + "/representations?" + query());
  state.total = data.total;
  const pages = Math.max(1, Math.ceil(data.total / data.page_size));
  $("page-info").textContent = `page ${data.page} of ${pages} · ${data.total} representation${data.total === 1 ? "" : "s"}`;
  $("prev").disabled = data.page <= 1; $("next").disabled = data.page >= pages;
  const rows = $("rows"); rows.replaceChildren();
  if (!data.items.length) rows.append(el("tr", {}, el("td", { colspan: 8 }, "Nothing matches.")));
  for (const r of data.items) rows.append(row(r));
}

function siteCell(r, site) {
  const s = r.sites[site];
  const cell = el("td", { "data-site": site }, pill(s && s.status));
  if (s) {
    const running = state.running[r.id + "@" + site];
    cell.append(bar(running ? running.done : s.synced_bytes, running ? running.size : r.size));
    if (s.last_error) cell.title = s.last_error;
  }
  return cell;
}

function row(r) {
  const local = r.sites[state.local];
  const tr = el("tr", { "data-id": r.id, tabindex: 0 },
    el("td", {}, r.folder), el("td", {}, r.product), el("td", { class: "num" }, ver(r.version)),
    el("td", {}, r.name), el("td", { class: "num" }, size(r.size)), siteCell(r, state.local), siteCell(r, state.remote));
  const actions = el("td", { class: "actions" });
  const act = (label, fn, cls) => actions.append(el("button", { type: "button", class: cls || "", onclick: (e) => { e.stopPropagation(); fn(); } }, label));
  if (!local || ["missing", "corrupt"].includes(local.status)) act("Download", () => action("POST", `/representations/${r.id}/sites/${enc(state.local)}`, {}, "queued for " + state.local), "primary");
  if (!r.sites[state.remote]) act("Upload", () => action("POST", `/representations/${r.id}/sites/${enc(state.remote)}`, {}, "queued for " + state.remote));
  for (const [site, s] of [[state.local, local], [state.remote, r.sites[state.remote]]]) {
    if (s && ["failed", "missing", "corrupt"].includes(s.status))
      act(site === state.local ? "Re-sync" : "Re-sync remote", () => action("POST", `/representations/${r.id}/sites/${enc(site)}/reset`, undefined, "queued again for " + site));
  }
  act(r.paused ? "Resume" : "Pause", () => action("POST", r.paused ? "/resume" : "/pause", { scope: "representation", name: r.id }, r.paused ? "resumed" : "paused"));
  act("Priority", () => {
    const value = prompt("Priority for " + r.folder + " " + r.product + " " + ver(r.version) + " (a whole number; higher goes first)", "90");
    if (value === null) return;
    if (!/^-?\d{1,9}$/.test(value.trim())) { show("The priority is a whole number, e.g. 90 (higher goes first)."); return; }
    action("PUT", `/representations/${r.id}/priority`, { priority: parseInt(value, 10) }, "priority set");
  });
  if (local) act("Remove local", () => {
    if (confirm(`Remove the copy of ${r.folder} ${r.product} ${ver(r.version)} from ${state.local}? Its files there are deleted.`))
      action("DELETE", `/representations/${r.id}/sites/${enc(state.local)}`, undefined, "removed from " + state.local);
  }, "danger");
  tr.append(actions);
  tr.addEventListener("click", () => openDetail(r.id));
  tr.addEventListener("keydown", (e) => { if (e.key === "Enter") openDetail(r.id); });
  if (state.selected === r.id) tr.classList.add("selected");
  return tr;
}

function enc(s) { return encodeURIComponent(s); }
function ver(v) { return "v" + String(v).padStart(3, "0"); }

async function action(method, path, body, done) {
  try {
    await call(method, path, body);
    show(done, true);
    await refresh();
  } catch (e) { show(e.message); }
}

// MARK: details

async function openDetail(id) {
  state.selected = id;
  for (const tr of $("rows").children) tr.classList.toggle("selected", tr.dataset.id === id);
  const d = await call("GET", "/representations/" + id);
  const body = $("detail-body"); body.replaceChildren();
  const r = d.representation || d;
  body.append(el("p", {}, `${r.folder} · ${r.product} ${ver(r.version)} · ${r.name}`), el("p", { class: "meta" }, "id " + r.id));
  for (const f of d.files) {
    body.append(el("p", { class: "path" }, shortPath(f.path, r.project) + " (" + size(f.size) + ")"));
    const t = el("table");
    t.append(el("tr", {}, el("th", {}, "site"), el("th", {}, "status"), el("th", {}, "tries"), el("th", {}, "next attempt"), el("th", {}, "lease")));
    for (const [site, s] of Object.entries(f.sites)) {
      t.append(el("tr", {}, el("td", {}, site), el("td", {}, pill(s.status)), el("td", {}, s.tries), el("td", {}, s.status === "queued" ? when(s.next_attempt_at) : "—"), el("td", {}, s.lease_owner || "—")));
      if (s.last_error) t.append(el("tr", {}, el("td", { colspan: 5, class: "site-bad" }, "last error: " + s.last_error)));
    }
    body.append(t);
  }
  $("detail").hidden = false;
}

// MARK: live activity (fetch-read Server-Sent Events: the token travels in a header, never in the URL)

function drawActivity(a) {
  const banner = $("server-paused");
  banner.hidden = !a.server_paused;
  state.running = {};
  const running = $("running"); running.replaceChildren();
  for (const t of a.running) {
    state.running[t.representation_id + "@" + t.target] = { done: t.bytes_done, size: t.size };
    const speed = t.bytes_per_second ? " · " + size(t.bytes_per_second) + "/s" : "";
    running.append(el("li", {}, el("span", { class: "path" }, shortPath(t.path, t.project)), el("div", { class: "meta" }, `${t.source ? t.source + " → " : "→ "}${t.target} · ${size(t.bytes_done)} of ${size(t.size)}${speed}`), bar(t.bytes_done, t.size)));
  }
  if (!a.running.length) running.append(el("li", { class: "empty" }, "Nothing is transferring."));
  const recent = $("recent"); recent.replaceChildren();
  for (const o of a.recent.slice(0, 30)) {
    recent.append(el("li", { class: o.outcome }, el("span", { class: "path" }, shortPath(o.path, o.project)), el("div", { class: "meta" }, `${o.outcome} on ${o.site} · ${when(o.at)}${o.error ? " · " + o.error : ""}`)));
  }
  if (!a.recent.length) recent.append(el("li", { class: "empty" }, "Nothing yet."));
}

let stream = null, lastKey = "";
async function listen() {
  if (stream) stream.abort();
  const controller = new AbortController(); stream = controller;
  const headers = token() ? { Authorization: "Bearer " + token() } : {};
  try {
    const res = await fetch(api + "/events?project=" + enc(state.project || "") + "&recent=50", { headers, signal: controller.signal });
    if (!res.ok) throw new Error("events: " + res.status);
    $("live").textContent = "● live"; $("live").className = "live on";
    const reader = res.body.getReader(); const decoder = new TextDecoder(); let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        const data = event.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (data) onActivity(JSON.parse(data));
      }
    }
  } catch (e) { if (controller.signal.aborted) return; }
  $("live").textContent = "○ reconnecting"; $("live").className = "live";
  if (stream === controller) setTimeout(listen, 1000);
}

function onActivity(a) {
  drawActivity(a);
  // The table follows: redraw when what runs or what just ended changed.
  const key = JSON.stringify([a.running.map((t) => [t.file_id, t.target, t.bytes_done]), a.recent.slice(0, 5).map((o) => [o.file_id, o.site, o.at])]);
  if (key !== lastKey) { lastKey = key; loadTable().catch((e) => show(e.message)); }
}

async function refresh() {
  await loadSites();
  await loadTable();
  if (state.selected && !$("detail").hidden) await openDetail(state.selected);
}

// MARK: wiring

function start() {
  $("project").addEventListener("change", async () => { state.project = $("project").value; state.page = 1; location.hash = "project=" + enc(state.project); await refresh(); listen(); });
  for (const id of ["local-site", "remote-site"]) $(id).addEventListener("change", () => { state.local = $("local-site").value; state.remote = $("remote-site").value; $("local-head").textContent = "Local: " + state.local; $("remote-head").textContent = "Remote: " + state.remote; loadTable(); });
  for (const id of ["status", "sort", "order", "page-size"]) $(id).addEventListener("change", () => { state.page = 1; loadTable().catch((e) => show(e.message)); });
  let typing; $("q").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => { state.page = 1; loadTable().catch((e) => show(e.message)); }, 250); });
  $("filters").addEventListener("submit", (e) => e.preventDefault());
  $("prev").addEventListener("click", () => { state.page--; loadTable(); });
  $("next").addEventListener("click", () => { state.page++; loadTable(); });
  $("close-detail").addEventListener("click", () => { $("detail").hidden = true; state.selected = null; });
  $("pause-project").addEventListener("click", () => { const p = project(); if (p) action("POST", p.paused ? "/resume" : "/pause", { scope: "project", name: p.name }, p.paused ? "project resumed" : "project paused").then(loadProjectsKeep); });
  $("token-button").addEventListener("click", askToken);
  $("token-form").addEventListener("submit", (e) => { e.preventDefault(); sessionStorage.setItem("sitesync-token", $("token-input").value.trim()); $("token-form").hidden = true; $("token-input").value = ""; boot(); });
  boot();
}

async function loadProjectsKeep() {
  const data = await call("GET", "/projects");
  state.projects = data.projects;
  const p = project(); if (p) $("pause-project").textContent = p.paused ? "Resume project" : "Pause project";
}

async function boot() {
  try {
    show("");
    const who = await call("GET", "/access");
    // The read-only token views: no buttons that could only answer 403.
    document.body.classList.toggle("read-only", who.access !== "full");
    $("access").textContent = who.access === "full" ? "" : "view only";
    await loadProjects(); await loadTable(); listen();
  } catch (e) { show(e.message); }
}

document.addEventListener("DOMContentLoaded", start);
