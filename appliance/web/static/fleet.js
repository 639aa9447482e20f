// The fleet at a glance: this box and every box it sees (/api/fleet, every 5 s): state, fps, people,
// SoC temperature, throttling, version and clock. Only boxes that answered like one ("verified") get
// a link, a checkbox and an identify button; the others are listed as text, never acted on.
// Orders go through this box (POST /api/fleet/apply), which relays them to the chosen boxes: a page
// may not send a change to another box itself (no CORS). Tokens, one per box or one for the fleet,
// live in the form's fields only: sent with that one order, then the fields are cleared; never
// stored (no localStorage, no cookie). Setting http.token on several boxes gives them one fleet token
// (each box's current token authorises it); the new value is cleared from the form once sent.
"use strict";

const SELF = "this box";
const fleetRows = new Map();  // key -> <tr>, kept across polls so choices and typed tokens stay

function fleetKey(b) { return b.self ? SELF : `${b.name}|${b.address}|${b.http_port}`; }

function throttlingText(now, sinceBoot) {
  if (now == null) return "–";
  if (now.length) return now.join(", ").replaceAll("_", " ");
  return sinceBoot && sinceBoot.length ? `ok (since boot: ${sinceBoot.join(", ").replaceAll("_", " ")})` : "ok";
}

function fleetRow(b) {
  const key = fleetKey(b);
  let tr = fleetRows.get(key);
  if (!tr) {
    const actionable = b.self || b.verified;
    const pick = el("input", { type: "checkbox", ariaLabel: `choose ${b.name}`, disabled: !actionable });
    const token = el("input", { type: "password", autocomplete: "off", placeholder: b.self ? "(this page's)" : "its token",
      ariaLabel: `token of ${b.name}`, disabled: !actionable || b.self });
    const name = b.self ? el("b", { textContent: `${b.name} (this box)` })
      : b.verified ? el("a", { href: b.url, textContent: b.name }) : el("span", { textContent: `${b.name} (not verified)` });
    const identify = actionable ? el("button", { type: "button", className: "small", textContent: "Identify" }) : el("span");
    if (actionable) identify.onclick = () => fleetOrder("identify", [tr]);
    tr = el("tr", { dataset: { box: key } }, el("td", {}, pick), el("td", {}, name),
      ...["state", "fps", "people", "temp", "throttling", "version", "clock"].map((c) => el("td", { dataset: { col: c } })),
      el("td", {}, token), el("td", {}, identify));
    tr.box = b; tr.pick = pick; tr.token = token;
    fleetRows.set(key, tr);
  }
  tr.box = b;
  tr.className = b.self || b.verified ? "" : "unverified";
  const cells = {
    state: b.state, fps: b.fps ?? "–", people: b.people ?? "–",
    temp: b.temperature_c == null ? "–" : `${b.temperature_c} °C`,
    throttling: throttlingText(b.throttling_now, b.throttling_since_boot), version: b.version || "–",
    clock: b.clock_synchronised == null ? "–" : b.clock_synchronised ? "synchronised" : "NOT synchronised",
  };
  for (const [col, text] of Object.entries(cells)) tr.querySelector(`[data-col=${col}]`).textContent = String(text);
  return tr;
}

function fleetSelf(s) {
  const p = s.pipeline || {};
  const self = { self: true, name: s.device_name, state: s.state, fps: p.fps, people: p.people, temperature_c: s.temperature_c,
    throttling_now: s.throttling?.now, throttling_since_boot: s.throttling?.since_boot, version: s.version,
    clock_synchronised: s.clock?.synchronised };
  const tr = fleetRow(self);
  const body = $("fleet-table").querySelector("tbody");
  if (body.firstChild !== tr) body.prepend(tr);
}

async function loadFleet() {
  try {
    const boxes = await api("GET", "/api/fleet");
    const keep = new Set([SELF, ...boxes.map(fleetKey)]);
    for (const [key, tr] of fleetRows) if (!keep.has(key)) { tr.remove(); fleetRows.delete(key); }
    const body = $("fleet-table").querySelector("tbody");
    for (const b of boxes) body.append(fleetRow(b));
    $("fleet-note").textContent = boxes.length ? `${boxes.length} other ${boxes.length === 1 ? "box" : "boxes"} seen`
      : "no other box seen on this network";
  } catch (e) {
    $("fleet-note").textContent = "fleet unavailable: " + e.message;
  }
}

function fleetSettings(schema) {
  // Every setting by its dotted name (from the configuration's schema), secrets and targets left out.
  const names = [];
  const walk = (prop, path) => {
    const p = resolve(prop);
    if (p.type === "object" && p.properties) for (const [k, sub] of Object.entries(p.properties)) walk(sub, path ? `${path}.${k}` : k);
    else if (path && !SPECIAL.has(path) && !path.startsWith("targets") && p.const === undefined) names.push(path);
  };
  walk(schema, "");
  $("fleet-settings").replaceChildren(...names.map((n) => el("option", { value: n })));
}

function fleetChange() {
  const path = $("fleet-setting").value.trim(), raw = $("fleet-value").value.trim();
  if (!path) throw new Error("name a setting, e.g. smoothing.enabled");
  let value = raw;
  try { value = JSON.parse(raw); } catch { /* a plain string */ }
  const change = {};
  const keys = path.split(".");
  keys.slice(0, -1).reduce((o, k) => (o[k] = {}), change)[keys.at(-1)] = value;
  return change;
}

async function fleetOrder(action, rows) {
  const results = $("fleet-results");
  try {
    if (!rows.length) throw new Error("choose one or more boxes first");
    const change = action === "config" ? fleetChange() : undefined;
    const fleetToken = $("fleet-token").value;
    const others = rows.filter((tr) => !tr.box.self).map((tr) => ({ name: tr.box.name, address: tr.box.address,
      http_port: tr.box.http_port, token: tr.token.value || fleetToken }));
    for (const tr of rows) tr.token.value = "";  // sent once, never kept
    $("fleet-token").value = "";
    if (/(^|\.)token$|key$/.test($("fleet-setting").value.trim())) $("fleet-value").value = "";  // a new secret too
    const lines = [];
    if (rows.some((tr) => tr.box.self)) {
      try {
        const done = action === "config" ? await api("PATCH", "/api/config", change) : await api("POST", "/api/identify");
        lines.push({ name: `${SELF}`, ok: true, message: action === "config" ? "saved" : `blinking for ${done.seconds} s` });
      } catch (e) {
        lines.push({ name: SELF, ok: false, message: e.message });
      }
    }
    if (others.length) {
      const body = action === "config" ? { action, change, boxes: others } : { action, boxes: others };
      for (const r of await api("POST", "/api/fleet/apply", body)) lines.push(r);
    }
    results.replaceChildren(...lines.map((r) => el("li", { className: r.ok ? "ok" : "bad", dataset: { box: r.name } },
      el("b", { textContent: r.name }), el("span", { textContent: r.message }))));
  } catch (e) {
    results.replaceChildren(el("li", { className: "bad", textContent: e.message }));
  }
}

function wireFleet() {
  $("fleet-results").classList.add("fleet-results");
  const chosen = () => [...fleetRows.values()].filter((tr) => tr.pick.checked && !tr.pick.disabled);
  $("fleet-apply").onsubmit = (e) => { e.preventDefault(); fleetOrder("config", chosen()); };
  $("fleet-identify").onclick = () => fleetOrder("identify", chosen());
}
