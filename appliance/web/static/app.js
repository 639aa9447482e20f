// The box's own screen. Live skeletons from /api/poses/stream (server-sent events, read with fetch so
// the access token can go along; keypoints arrive normalised 0..1 as (x, y, score)) drawn over the
// camera picture (/api/camera.jpg, a few times a second, only while the page is visible, and only
// for the box's owner when the owner turned it on); status from /api/status; the doctor's checks from
// /api/health; the other boxes from /api/fleet; the last minutes of fps, people, latency and
// temperature as small plots (plots.js) from the polled status. Every setting is built from the configuration's JSON
// schema (/api/config/schema): no list of fields or choices is kept here, so a new setting appears
// by itself. Changes are PATCHed; a refused one is shown at its field.
"use strict";
const $ = (id) => document.getElementById(id);
// tfjs connectedPartNames, as keypoint indices (PoseNet order).
const LIMBS = [[11, 5], [7, 5], [7, 9], [11, 13], [13, 15], [12, 6], [8, 6], [8, 10], [12, 14], [14, 16], [5, 6], [11, 12]];
const COLOURS = ["#ff5a5a", "#5aff8c", "#5ac8ff", "#ffd25a", "#d27aff", "#ff9a5a"];
// Groups of top-level settings, for the eye only: any other setting the schema has gets its own group.
const GROUPS = [
  ["General", ["device_name", "source", "inference"]],
  ["Detection", ["decoder"]],
  ["People: ids and smoothing", ["tracking", "smoothing"]],
  ["Network and ports", ["network", "http", "osc_control", "osc"]],
  ["The room: slots, scene, features", ["slots", "scene", "features"]],
];
// Edited elsewhere: the targets' table, the token's form, the zones and the floor on the view (room.js).
const SPECIAL = new Set(["schema_version", "targets", "http.token", "zones", "floor"]);
let config = null, schema = null, choices = { sources: [], models: [] }, formats = {}, presets = {};
let picture = null, lastFrame = null;

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "dataset") Object.assign(e.dataset, v);
    else if (k in e) e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function message(text, isError) {
  $("message").textContent = text;
  $("message").className = isError ? "error" : "";
}

let lastStatus = 0;  // the status of the newest API answer (202: a network change went on trial)

function authHeaders() {
  const token = localStorage.getItem("token");
  return token ? { Authorization: "Bearer " + token } : {};
}

class ApiError extends Error {
  constructor(status, detail) {
    const text = Array.isArray(detail) ? detail.map((d) => `${d.loc.slice(1).join(".")}: ${d.msg}`).join("; ") : String(detail);
    super(`${status}: ${text}`);
    this.status = status;
    this.detail = Array.isArray(detail) ? detail : [];
  }
}

async function api(method, path, body) {
  const opts = { method, headers: authHeaders() };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  const r = await fetch(path, opts);
  lastStatus = r.status;
  if (r.status === 401 && method !== "GET" && askToken()) return api(method, path, body);
  if (r.status === 401) localStorage.removeItem("token");  // a stale token: ask again next time
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(r.status, data.detail || r.statusText);
  return data;
}

function askToken() {
  // This box has an access token: ask once, keep it in this browser only.
  const given = prompt("This box is claimed: give its access token (its owner has it, e.g. from posenet-token.txt on the boot partition):");
  if (given) { localStorage.setItem("token", given); return true; }
  return false;
}

// -- the view: camera picture and skeletons ---------------------------------------------------------
// Why there is no picture, from the refusal's field: said plainly, and asked for again less often.
const PICTURE_OFF = {
  camera_view: "the camera picture is off on this box: its owner can turn it on (Network and ports › camera view)",
  authorization: "the camera picture is only for this box's owner: open this page on the box itself, or give its access token (Settings › Access)",
};

async function pollPicture() {
  const note = $("picture-note");
  let next = 250;
  try {
    if (!$("show-picture").checked) { picture = null; note.textContent = ""; return; }
    if (document.visibilityState !== "visible") return;
    const r = await fetch("/api/camera.jpg", { headers: authHeaders(), cache: "no-store" });
    if (r.ok) {
      picture = await createImageBitmap(await r.blob());
      note.textContent = "";
      if (lastFrame) draw(lastFrame);
    } else if (r.status === 429) {
      next = 1000 * Number(r.headers.get("Retry-After") || 1); // asked too often: keep the last picture
    } else {
      picture = null;
      const field = ((await r.json().catch(() => ({}))).detail || [{}])[0].loc?.at(-1);
      note.textContent = PICTURE_OFF[field] || "no picture yet";
      next = PICTURE_OFF[field] ? 5000 : 1000;
    }
  } catch (e) {
    note.textContent = "no picture: " + e.message;
  } finally {
    setTimeout(pollPicture, next);
  }
}

// The live poses: server-sent events over fetch (EventSource cannot send the access token, which the
// owner may require with http.poses_need_token); reconnects after 2 s, or 5 s when refused.
async function streamPoses() {
  let wait = 2000;
  try {
    const r = await fetch("/api/poses/stream", { headers: authHeaders(), cache: "no-store" });
    if (r.status === 401) { $("summary").textContent = "the live poses of this box need its access token (Settings › Access)"; wait = 5000; return; }
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (event.startsWith("data: ")) draw(JSON.parse(event.slice(6)));
      }
    }
  } catch (e) {
    // the box restarted or the network went: try again
  } finally {
    setTimeout(streamPoses, wait);
  }
}

function draw(frame) {
  lastFrame = frame;
  const c = $("view"), g = c.getContext("2d");
  const aspect = frame.width && frame.height ? frame.height / frame.width : (picture ? picture.height / picture.width : 0.75);
  const w = 960, h = Math.round(960 * aspect);
  if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
  const mirror = $("mirror-view").checked;
  g.fillStyle = "#000"; g.fillRect(0, 0, w, h);
  if (picture) {
    g.save();
    if (mirror) { g.translate(w, 0); g.scale(-1, 1); }
    g.drawImage(picture, 0, 0, w, h);
    g.restore();
  }
  const scores = $("show-scores").checked;
  frame.poses.forEach((pose, i) => {
    const colour = COLOURS[(pose.id >= 0 ? pose.id : i) % COLOURS.length];
    const kp = pose.keypoints.map(([x, y, s]) => [(mirror ? 1 - x : x) * w, y * h, s]);
    g.strokeStyle = colour; g.fillStyle = colour; g.lineWidth = 4;
    for (const [a, b] of LIMBS) {
      if (kp[a][2] < 0.3 || kp[b][2] < 0.3) continue;
      g.beginPath(); g.moveTo(kp[a][0], kp[a][1]); g.lineTo(kp[b][0], kp[b][1]); g.stroke();
    }
    g.font = "13px system-ui, sans-serif";
    for (const [x, y, s] of kp) {
      if (s < 0.3) continue;
      g.globalAlpha = 0.4 + 0.6 * s;
      g.beginPath(); g.arc(x, y, 5, 0, 2 * Math.PI); g.fill();
      if (scores) { g.fillStyle = "#fff"; g.fillText(s.toFixed(2), x + 6, y - 4); g.fillStyle = colour; }
    }
    g.globalAlpha = 1;
    const seen = kp.filter((p) => p[2] >= 0.3);
    if (seen.length) {
      const top = Math.min(...seen.map((p) => p[1])), left = Math.min(...seen.map((p) => p[0]));
      const label = `id ${pose.id >= 0 ? pose.id : "–"} · ${pose.score.toFixed(2)}`;
      g.font = "bold 16px system-ui, sans-serif";
      const tw = g.measureText(label).width;
      g.fillStyle = "rgba(0,0,0,.65)"; g.fillRect(left - 2, Math.max(0, top - 26), tw + 8, 20);
      g.fillStyle = colour; g.fillText(label, left + 2, Math.max(15, top - 11));
    }
  });
  if (typeof drawRoom === "function") drawRoom(g, w, h, mirror);
  $("summary").textContent = `frame ${frame.frame}: ${frame.poses.length} ${frame.poses.length === 1 ? "person" : "people"}`;
}

// -- status, health, fleet ----------------------------------------------------------------------------
function rows(target, pairs) {
  target.replaceChildren(...pairs.flatMap(([k, v]) => [el("dt", { textContent: k }), el("dd", { textContent: v === undefined || v === null ? "–" : String(v) })]));
}

function showTrial(t) {
  // A change of ports, bind address or discovery is on trial: keep it from the new address, or it
  // is undone by itself (no setting can cut the owner off).
  $("trial").hidden = !t;
  if (!t) return;
  const wildcard = t.http_bind === "0.0.0.0" || t.http_bind === "::";
  const host = wildcard ? location.hostname : t.http_bind;
  const here = String(t.http_port) === (location.port || "80") && (wildcard || location.hostname === t.http_bind);
  const url = `${location.protocol}//${host.includes(":") ? `[${host}]` : host}:${t.http_port}/`;
  const changes = Object.entries(t.changes).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(", ");
  $("trial-text").replaceChildren(`New network settings on trial (${changes}): undone in ${t.seconds_left} s unless kept. `,
    here ? "You reached the box at the new address: keep them?" : el("a", { href: url, textContent: `Open ${url} and keep them there.` }));
  $("trial-keep").hidden = !here;
}

function showRecording(r) {
  // The recording in progress (elapsed time and size), or how the last one ended.
  const on = r && r.state === "recording";
  $("record").textContent = on ? "■ Stop recording" : "● Record";
  $("record").dataset.recording = on ? "1" : "";
  if (!r) { $("rec-state").textContent = ""; return; }
  const size = `${(r.bytes / 1e6).toFixed(1)} MB`;
  $("rec-state").textContent = on ? `recording ${r.name}: ${Math.round(r.seconds)} s, ${size}`
    : `${r.name}: ${r.frames} frames, ${size}${r.reason && r.reason !== "stopped" ? ` (stopped: ${r.reason})` : ""}`;
}

// A hub's floor map: each box's view (the floor its picture sees, metres (x, y)) as a translucent
// polygon in the box's colour, under every fused person as a dot at their floor position (metres,
// (x, y), y down) with their global id, filled with the colour of the box that sees them best and
// ringed with the next one's; boxes listed with their colour, state and clock. People without a
// floor position (boxes without a floor calibration) are listed under the map. The map fits the
// views and the people, at most FLOOR_SPAN metres across (centred on the people when it must cut).
const BOX_COLOURS = ["#2a7de1", "#e1632a", "#2ab36b", "#b32ab3", "#c9a400", "#00a3b3", "#7d2ae1", "#e12a55"];
const FLOOR_SPAN = 60;
const SVG_NS = "http://www.w3.org/2000/svg";

function svgNode(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, v));
  return node;
}

// The viewBox [x, y, width, height] (metres) around these points ([x, y] metres): 0.5 m beyond them,
// at least 11 x 7 m, at most FLOOR_SPAN across, centred on `centre` ([x, y]) when it must cut.
function floorBox(points, centre) {
  if (!points.length) return [-0.5, -0.5, 11, 7];
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const side = (lo, hi, least, mid) => {
    let a = lo - 0.5, b = hi + 0.5;
    if (b - a < least) { const c = (a + b) / 2; a = c - least / 2; b = c + least / 2; }
    if (b - a > FLOOR_SPAN) { a = Math.min(Math.max(mid - FLOOR_SPAN / 2, a), b - FLOOR_SPAN); b = a + FLOOR_SPAN; }
    return [a, b - a];
  };
  const [x, w] = side(Math.min(...xs), Math.max(...xs), 11, centre[0]);
  const [y, h] = side(Math.min(...ys), Math.max(...ys), 7, centre[1]);
  return [x, y, w, h];
}

function showHub(h) {
  const card = $("hub-card");
  card.hidden = !h;
  if (!h) return;
  const colour = {};
  h.boxes.forEach((b, i) => { colour[b.name] = BOX_COLOURS[i % BOX_COLOURS.length]; });
  const svg = $("hub-floor");
  svg.replaceChildren();
  const placed = h.persons.filter((p) => p.x != null && p.y != null);
  const unplaced = h.persons.filter((p) => p.x == null || p.y == null).map((p) => p.id);
  const views = h.boxes.filter((b) => (b.view || []).length >= 3);
  const people = placed.map((p) => [p.x, p.y]);
  const corners = views.flatMap((b) => b.view);
  const around = people.length ? people : corners;
  const centre = around.length ? [0, 1].map((k) => around.reduce((t, p) => t + p[k], 0) / around.length) : [0, 0];
  const box = floorBox([...people, ...corners], centre);
  svg.setAttribute("viewBox", box.join(" "));
  const k = Math.max(1, Math.max(box[2], box[3]) / 11);  // dots and labels grow with the map
  for (const b of views) {  // under the people
    svg.append(svgNode("polygon", { class: "view", points: b.view.map((c) => c.join(",")).join(" "),
      fill: colour[b.name], stroke: colour[b.name], "data-box": b.name }));
  }
  for (const p of placed) {
    const dot = svgNode("circle", { cx: p.x, cy: p.y, r: 0.2 * k, fill: colour[p.boxes[0]] || "#888",
      stroke: colour[p.boxes[1]] || "none", "stroke-width": 0.08 * k, "data-id": p.id });
    const label = svgNode("text", { x: p.x + 0.25 * k, y: p.y + 0.1 * k, "font-size": 0.35 * k });
    label.textContent = p.id;
    svg.append(dot, label);
  }
  showCorrections(h.corrections || []);
  $("hub-unplaced").textContent = unplaced.length ? `without a floor position: ${unplaced.join(", ")}` : "";
  $("hub-boxes").replaceChildren(...h.boxes.map((b) => {
    const swatch = el("span", { className: "swatch" });
    swatch.style.backgroundColor = colour[b.name];  // CSSOM, not an inline style attribute (the CSP)
    return el("li", { className: b.live ? "" : "bad" }, swatch,
      `${b.name} (${b.address}): ${b.live ? "live" : "dropped"}, ${b.people} people, clock ${b.clock}` +
      `${b.delay_ms == null ? "" : `, delay ${b.delay_ms} ms`}${b.subscribed ? "" : ", not subscribed"}` +
      `${b.refused ? ` (refused: ${b.refused})` : ""}`);
  }));
}

// The corrections the hub estimated from walks through the overlaps: how far each box's floor is off
// the reference box's (metres, degrees). "Apply" moves that box's four floor marks by it
// (POST /api/hub/calibration/apply, this hub's owner only) with that box's token, typed in
// #hub-token: sent once with that request, then cleared (never stored). A walk is applied once.
const hubApplying = new Set();  // boxes with an apply under way
const hubApplied = new Set();  // walks applied from this page

function showCorrections(list) {
  const items = list.map((c) => el("li", { dataset: { box: c.box } },
    `${c.box}: rotate ${c.degrees.toFixed(1)}°, then shift x ${c.dx.toFixed(2)} m, y ${c.dy.toFixed(2)} m ` +
    `to agree with ${c.reference} (${c.pairs} moments, ${(c.rms * 100).toFixed(0)} cm left) `,
    el("button", { type: "button", className: "small", dataset: { box: c.box, walk: c.walk },
      disabled: hubApplying.has(c.box) || hubApplied.has(c.walk) }, hubApplied.has(c.walk) ? "applied" : "Apply")));
  $("hub-corrections").replaceChildren(...(items.length ? items
    : [el("li", { className: "muted" }, "walk one person slowly through each overlap")]));
}

async function applyCorrection(box, walk) {
  const out = $("hub-apply-state");
  const token = $("hub-token").value;
  $("hub-token").value = "";  // sent once, never kept
  hubApplying.add(box);
  out.className = "";
  out.textContent = `applying to ${box}…`;
  try {
    const done = await api("POST", "/api/hub/calibration/apply", { box, walk, token });
    hubApplied.add(walk);
    out.textContent = done.message;
  } catch (e) {
    out.className = "error";
    out.textContent = `not applied: ${e.detail?.[0]?.msg ?? e.message}`;
  } finally {
    hubApplying.delete(box);
  }
}

// An update file goes up as it is (application/octet-stream, the owner's token along); the box
// verifies it before anything changes and says why when it refuses.
let uploading = false;
async function sendUpdate() {
  const file = $("update-file").files[0];
  const out = $("update-state");
  if (!file) { out.textContent = "choose an update file first"; return; }
  uploading = true;
  out.textContent = `uploading ${file.name} (${(file.size / 1e6).toFixed(1)} MB)…`;
  try {
    const force = $("update-force").checked ? "?force=true" : "";
    const headers = { ...authHeaders(), "Content-Type": "application/octet-stream" };
    const r = await fetch("/api/update" + force, { method: "POST", headers, body: file });
    const body = await r.json().catch(() => ({}));
    out.textContent = r.ok ? body.update.message : `refused: ${body.detail?.[0]?.msg ?? r.status}`;
  } catch (e) {
    out.textContent = `upload failed: ${e}`;
  } finally {
    uploading = false;
  }
}

function showStatus(s) {
  showTrial(s.network_trial);
  showHub(s.hub);
  showRecording(s.recording);
  $("name").textContent = s.device_name;
  document.title = `${s.device_name} · PoseNet OSC`;
  const st = $("state");
  st.textContent = s.source.startsWith("replay:") ? `${s.state} · replay` : s.state;
  st.className = "pill " + (s.state === "running" ? "ok" : s.state === "degraded" ? "bad" : "warn");
  const p = s.pipeline || {};
  $("g-fps").textContent = p.fps ?? "–";
  $("g-people").textContent = p.people ?? "–";
  $("g-backend").textContent = s.backend;
  $("g-temp").textContent = s.temperature_c == null ? "no temperature sensor" : `${s.temperature_c} °C`;
  const pairs = [["backend", s.backend], ["model", s.model], ["source", `${s.source_name || s.source} (${p.source_state ?? "–"})`],
    ["fps", `${p.fps ?? "–"} out of ${p.input_fps ?? "–"} in`], ["people", p.people],
    ["prepare", `${p.prepare_ms ?? "–"} ms`], ["inference", `${p.inference_ms ?? "–"} ms`],
    ["decode", `${p.decode_ms ?? "–"} ms`], ["send", `${p.send_ms ?? "–"} ms`],
    ["latency p50 / p99", `${p.latency_p50_ms ?? "–"} / ${p.latency_p99_ms ?? "–"} ms`],
    ["frames in / out / dropped", `${p.frames_in ?? "–"} / ${p.frames_processed ?? "–"} / ${p.frames_dropped ?? "–"}`],
    ["uptime", `${Math.round(s.uptime_s)} s`], ["version", s.version]];
  const c = s.clock;
  if (c) pairs.push(["clock", `${c.synchronised ? "synchronised" : "not synchronised"}` + (c.source == null ? ""
    : `; chrony follows ${c.source} (stratum ${c.stratum}), offset ${(c.estimated_offset_s * 1000).toFixed(2)} ms`)]);
  if (s.instance) pairs.push(["mDNS name", s.instance]);
  if (s.safe_mode) pairs.push(["safe mode", s.safe_mode]);
  if (s.degraded) pairs.push(["problem", s.degraded]);
  if (s.pipeline_restarts) pairs.push(["pipeline restarts", `${s.pipeline_restarts} (last: ${s.last_fault})`]);
  if (s.update) {
    pairs.push(["update", `${s.update.state}: ${s.update.message}`]);
    if (!uploading) $("update-state").textContent = `${s.update.state}: ${s.update.message}`;
  }
  for (const t of s.targets || []) pairs.push([t.target, `${t.state}, ${t.datagrams} sent${t.errors ? `, ${t.errors} errors: ${t.last_error}` : ""}`]);
  rows($("status"), pairs);
  fleetSelf(s);
}

async function loadHealth() {
  try {
    const doc = await api("GET", "/api/health");
    $("health").replaceChildren(...doc.checks.map((c) => el("li", { className: c.status, dataset: { check: c.name } },
      el("span", { className: "badge", textContent: c.status }), el("b", { textContent: c.name }),
      el("span", { className: "detail", textContent: c.detail }),
      c.fix ? el("span", { className: "fix", textContent: "→ " + c.fix }) : null)));
  } catch (e) {
    $("health").replaceChildren(el("li", { className: "muted", textContent: "health unavailable: " + e.message }));
  }
}

// -- settings, from the schema ----------------------------------------------------------------------
function resolve(prop) {
  let p = prop;
  if (p.$ref) p = { ...schema.$defs[p.$ref.split("/").pop()], ...p };
  if (p.anyOf) p = { ...p.anyOf.find((a) => a.type !== "null"), ...p, nullable: true };
  return p;
}

function get(obj, path) { return path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj); }

function fieldFor(path, prop, value) {
  const p = resolve(prop);
  const id = "f-" + path.replaceAll(".", "-");
  let input;
  if (path === "inference.model") {
    input = el("select", { id });
    const names = choices.models.map((m) => m.name);
    if (!names.includes(value)) input.append(el("option", { value, textContent: `${value} (not installed)` }));
    for (const m of choices.models) {
      const usable = m.family === "posenet" || m.family === "movenet";
      input.append(el("option", { value: m.name, disabled: !usable,
        textContent: `${m.name} — ${usable ? m.family : "not a pose model"}, ${(m.size / 1048576).toFixed(1)} MB${m.edgetpu ? ", Edge TPU" : ""}` }));
    }
    input.value = value;
    input.dataset.kind = "str";
  } else if (p.enum) {
    input = el("select", { id }, ...p.enum.map((v) => el("option", { value: v, textContent: v })));
    input.value = value;
    input.dataset.kind = typeof p.enum[0] === "number" ? "num" : "str";
  } else if (p.type === "boolean") {
    input = el("input", { id, type: "checkbox", checked: !!value });
    input.dataset.kind = "bool";
  } else if (p.type === "integer" || p.type === "number") {
    input = el("input", { id, type: "number", value: value ?? "", step: p.type === "integer" ? "1" : "any" });
    const min = p.minimum ?? p.exclusiveMinimum, max = p.maximum ?? p.exclusiveMaximum;
    if (min !== undefined) input.min = min;
    if (max !== undefined) input.max = max;
    input.dataset.kind = p.type === "integer" ? "int" : "num";
  } else if (p.type === "array") {
    input = el("input", { id, value: (value || []).join(", "), placeholder: "comma-separated" });
    input.dataset.kind = "list";
  } else {
    input = el("input", { id, value: value ?? "" });
    input.dataset.kind = "str";
    if (path === "source") input.setAttribute("list", "source-choices");
    const secret = get(config, `${path}_set`);  // write-only (a subscribe key): never shown, empty keeps it
    if (secret !== undefined) {
      Object.assign(input, { type: "password", autocomplete: "off", placeholder: secret ? "set: empty keeps it" : "not set" });
      input.dataset.kind = "secret";
    }
  }
  input.dataset.path = path;
  const label = el("label", { htmlFor: id, textContent: (p.title || path.split(".").pop()).replace(/_/g, " ") });
  const field = el("div", { className: "field" }, label, input,
    p.description ? el("span", { className: "help", textContent: p.description }) : null,
    el("span", { className: "error", id: "e-" + path.replaceAll(".", "-") }));
  if (path === "source") {
    field.append(el("datalist", { id: "source-choices" }, ...choices.sources.map((s) => el("option", { value: s.source, label: s.label }))));
  }
  return field;
}

function fieldsOf(path, prop, value) {
  if (SPECIAL.has(path)) return [];
  const p = resolve(prop);
  if (p.type === "object" && p.properties) {
    const inner = Object.entries(p.properties).flatMap(([k, sub]) => fieldsOf(`${path}.${k}`, sub, value?.[k]));
    if (!inner.length) return [];
    return [el("fieldset", {}, el("legend", { textContent: p.title || path }), ...inner)];
  }
  if (p.const !== undefined) return [];
  return [fieldFor(path, prop, value)];
}

function renderSettings() {
  const props = schema.properties;
  const seen = new Set(GROUPS.flatMap(([, keys]) => keys));
  const groups = [...GROUPS, ["Other", Object.keys(props).filter((k) => !seen.has(k) && !SPECIAL.has(k))]];
  const forms = groups.filter(([, keys]) => keys.length).map(([title, keys]) => {
    const form = el("form", { className: "settings", dataset: { keys: keys.join(" ") } },
      el("h3", { textContent: title }), ...keys.flatMap((k) => fieldsOf(k, props[k], config[k])),
      el("div", { className: "row" }, el("button", { type: "submit", textContent: `Save ${title.toLowerCase()}` })));
    form.onsubmit = (e) => { e.preventDefault(); saveForm(form); };
    return form;
  });
  $("settings").replaceChildren(...forms, accessForm());
}

function accessForm() {
  const claimed = config.http.token_set;
  const form = el("form", { className: "settings", id: "access" },
    el("h3", { textContent: "Access" }),
    el("p", { className: "muted", id: "token-state", textContent: claimed
      ? "This box is claimed: every change from another computer needs its access token (this browser keeps it once given). Set a new one here with the current one."
      : "This box has no owner yet: it accepts changes only from itself. Claim it with an access token in posenet.json on the boot partition, or 'sudo posenet-appliance claim' on the box." }),
    el("div", { className: "field" }, el("label", { htmlFor: "token-new", textContent: "new token" }),
      el("input", { id: "token-new", type: "text", autocomplete: "off", spellcheck: false, minLength: 12, dataset: { path: "http.token" } }),
      el("span", { className: "error", id: "e-http-token" })),
    el("div", { className: "row" }, el("button", { type: "button", id: "token-generate", textContent: "Generate" }),
      el("button", { type: "submit", id: "token-set", textContent: "Set token" })));
  form.onsubmit = async (e) => {
    e.preventDefault();
    const value = $("token-new").value;
    if (await change(api("PATCH", "/api/config", { http: { token: value } }), "token set: keep it somewhere safe", form)) localStorage.setItem("token", value);
  };
  form.querySelector("#token-generate").onclick = () => {
    // 18 random bytes as URL-safe base64: 24 characters, 144 bits, made in this browser.
    const bytes = crypto.getRandomValues(new Uint8Array(18));
    $("token-new").value = btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_");
  };
  return form;
}

function valueOf(input) {
  const v = input.value;
  switch (input.dataset.kind) {
    case "bool": return input.checked;
    case "int": return v === "" ? null : Number.isInteger(Number(v)) ? Number(v) : v;
    case "num": return v === "" ? null : Number.isNaN(Number(v)) ? v : Number(v);
    case "list": return v.split(",").map((s) => s.trim()).filter(Boolean);
    case "extras": return v.trim() === "" ? null : v.trim() === "none" ? [] : v.split(",").map((s) => s.trim()).filter(Boolean);
    default: return v;
  }
}

function collect(root) {
  const out = {};
  for (const input of root.querySelectorAll("[data-path]")) {
    if (input.dataset.path === "http.token" || (input.dataset.kind === "secret" && input.value === "")) continue;
    const keys = input.dataset.path.split(".");
    let o = out;
    for (const k of keys.slice(0, -1)) o = o[k] = o[k] || {};
    o[keys.at(-1)] = valueOf(input);
  }
  return out;
}

function clearErrors(root) {
  for (const e of root.querySelectorAll(".invalid")) e.classList.remove("invalid");
  for (const e of root.querySelectorAll(".error")) e.textContent = "";
}

function showErrors(err, root) {
  let shown = 0;
  for (const d of err.detail || []) {
    const path = d.loc.slice(1).join(".");
    const input = root.querySelector(`[data-path="${CSS.escape(path)}"]`);
    if (!input) continue;
    input.classList.add("invalid");
    const where = $("e-" + path.replaceAll(".", "-"));
    if (where) where.textContent = d.msg;
    if (!shown++) input.focus();
  }
}

async function change(promise, done, root) {
  if (root) clearErrors(root);
  try {
    await promise;
    message(done, false);
    config = await api("GET", "/api/config");
    return true;
  } catch (e) {
    message(e.message, true);
    if (root && e instanceof ApiError) showErrors(e, root);
    return false;
  }
}

async function saveForm(form) {
  let onTrial = false;
  const saving = api("PATCH", "/api/config", collect(form)).then((data) => { onTrial = lastStatus === 202; return data; });
  if (await change(saving, "saved", form)) {
    if (onTrial) message("saved; the new network settings are on trial: keep them from the new address (above)", false);
    renderTargets();
    loadChoices().then(renderSettings).catch(() => {});
  }
}

// -- targets --------------------------------------------------------------------------------------
function targetRow(t, i) {
  const cell = (name, input) => { input.dataset.path = `targets.${i}.${name}`; return el("td", {}, input, el("span", { className: "error", id: `e-targets-${i}-${name}` })); };
  const select = (options, value) => { const s = el("select", {}, ...options.map((o) => el("option", { value: o, textContent: o }))); s.value = value; s.dataset.kind = "str"; return s; };
  const host = el("input", { value: t.host, placeholder: "host or IP", size: 14, ariaLabel: "host" }); host.dataset.kind = "str";
  const port = el("input", { type: "number", min: 1, max: 65535, value: t.port, ariaLabel: "port" }); port.dataset.kind = "int";
  const mirror = el("input", { type: "checkbox", checked: t.mirror, ariaLabel: "mirror" }); mirror.dataset.kind = "bool";
  // The stages' messages (zones, slots, scene, features, floor): empty = the format's default, "none" = none.
  const extras = el("input", { value: t.extras ? (t.extras.length ? t.extras.join(", ") : "none") : "", placeholder: "format's default",
    size: 12, maxLength: 200, ariaLabel: "extras" }); extras.dataset.kind = "extras";
  const remove = el("button", { type: "button", className: "remove", textContent: "Remove" });
  const tr = el("tr", {}, cell("host", host), cell("port", port), cell("format", select(Object.keys(formats), t.format)),
    cell("coords", select(["pixels", "normalized"], t.coords)), cell("mirror", mirror),
    cell("timetag", select(["immediate", "capture"], t.timetag)), cell("extras", extras), el("td", {}, remove));
  remove.onclick = () => { tr.remove(); message("removed: Save targets to keep it so", false); };
  return tr;
}

function renderTargets(list) {
  const targets = list || config.targets;
  $("targets").querySelector("tbody").replaceChildren(...targets.map(targetRow));
}

function tableTargets() {
  return [...$("targets").querySelectorAll("tbody tr")].map((tr) => {
    const t = {};
    for (const input of tr.querySelectorAll("[data-path]")) t[input.dataset.path.split(".").pop()] = valueOf(input);
    return t;
  });
}

function renumber() {
  $("targets").querySelectorAll("tbody tr").forEach((tr, i) => tr.querySelectorAll("[data-path]").forEach((input) => {
    const name = input.dataset.path.split(".").pop();
    input.dataset.path = `targets.${i}.${name}`;
    input.nextSibling.id = `e-targets-${i}-${name}`;
  }));
}

async function loadChoices() {
  choices = await api("GET", "/api/choices");
}

async function init() {
  [schema, formats, presets, config] = await Promise.all([api("GET", "/api/config/schema"), api("GET", "/api/formats"),
    api("GET", "/api/presets"), api("GET", "/api/config")]);
  await loadChoices().catch(() => {});
  for (const f of Object.keys(formats)) $("t-format").append(new Option(f, f));
  for (const [name, p] of Object.entries(presets)) $("t-preset").append(new Option(`${name}: ${p.description}`, name));
  const followFormat = () => { $("t-coords").value = formats[$("t-format").value].coords; };
  $("t-format").onchange = followFormat;
  followFormat();
  $("t-preset").onchange = () => {
    const p = presets[$("t-preset").value];
    if (!p) return;
    $("t-format").value = p.format; $("t-coords").value = p.coords;
    if (p.port) $("t-port").value = p.port;
  };
  $("add-row").onclick = () => {
    const tbody = $("targets").querySelector("tbody");
    tbody.append(targetRow({ host: "", port: 9000, format: "individual", coords: "pixels", mirror: false, timetag: "immediate" }, tbody.children.length));
  };
  $("save-targets").onclick = async () => {
    renumber();
    if (await change(api("PATCH", "/api/config", { targets: tableTargets() }), "targets saved", $("targets-card"))) renderTargets();
  };
  $("this-computer").onclick = async () => {
    const body = { port: Number($("t-port").value), format: $("t-format").value, coords: $("t-coords").value };
    if (await change(api("POST", "/api/targets/this-computer", body), "sending to this computer", $("targets-card"))) renderTargets();
  };
  renderSettings();
  renderTargets();
  fleetSettings(schema);
  if (typeof startRoom === "function") startRoom();
  document.body.dataset.ready = "1"; // everything drawn and wired (tests wait for it)
}

function start() {
  init().catch((e) => message(e.message, true));
  $("trial-keep").onclick = () => change(api("POST", "/api/network/confirm"), "network settings kept");
  $("trial-undo").onclick = () => change(api("DELETE", "/api/network/trial"), "network settings undone");
  $("record").onclick = () => ($("record").dataset.recording
    ? change(api("POST", "/api/recordings/stop"), "recording stopped")
    : change(api("POST", "/api/recordings", {}), "recording"));
  const plots = new Plots($("plots"));
  api("GET", "/api/status/history").then((h) => plots.seed(h.samples)).catch(() => {});
  const poll = () => api("GET", "/api/status").then((s) => { showStatus(s); plots.add(s); }).catch(() => {
    $("state").textContent = "unreachable"; $("state").className = "pill bad"; plots.add(null);
  });
  poll(); setInterval(poll, 1000);
  loadHealth(); setInterval(loadHealth, 30000);
  $("recheck").onclick = loadHealth;
  $("update-send").onclick = sendUpdate;
  $("hub-corrections").onclick = (ev) => {
    const button = ev.target.closest("button[data-walk]");
    if (button && !button.disabled) { button.disabled = true; applyCorrection(button.dataset.box, Number(button.dataset.walk)); }
  };
  loadFleet(); setInterval(loadFleet, 5000);
  wireFleet();
  for (const id of ["mirror-view", "show-scores", "show-picture"]) $(id).onchange = () => lastFrame && draw(lastFrame);
  pollPicture();
  streamPoses();
}

start();
