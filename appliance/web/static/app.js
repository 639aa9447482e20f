// The appliance's page: live skeletons from /api/poses/stream (server-sent events), status from
// /api/status, and forms that PATCH /api/config. Coordinates arrive normalised 0..1 as (x, y, score).
// Choices (the OSC formats...) come from the configuration's JSON schema, never a list kept here.
"use strict";
const $ = (id) => document.getElementById(id);
// tfjs connectedPartNames, as keypoint indices (PoseNet order).
const LIMBS = [[11, 5], [7, 5], [7, 9], [11, 13], [13, 15], [12, 6], [8, 6], [8, 10], [12, 14], [14, 16], [5, 6], [11, 12]];
const COLOURS = ["#ff5a5a", "#5aff8c", "#5ac8ff", "#ffd25a", "#d27aff", "#ff9a5a"];
let config = null;

function message(text, isError) {
  $("message").textContent = text;
  $("message").className = isError ? "error" : "";
}

async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  const token = localStorage.getItem("token");
  if (token) opts.headers["Authorization"] = "Bearer " + token;
  const r = await fetch(path, opts);
  if (r.status === 401 && method !== "GET") {
    // This box has an access token: ask once, keep it in this browser only, and try again.
    const given = prompt("This box asks for its access token (set by its owner):");
    if (given) { localStorage.setItem("token", given); return api(method, path, body); }
  }
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const detail = Array.isArray(data.detail) ? data.detail.map((d) => `${d.loc.slice(1).join(".")}: ${d.msg}`).join("; ") : (data.detail || r.statusText);
    throw new Error(`${r.status}: ${detail}`);
  }
  return data;
}

function draw(frame) {
  const c = $("view"), g = c.getContext("2d");
  if (frame.width && frame.height) { c.width = 640; c.height = Math.round(640 * frame.height / frame.width); }
  g.fillStyle = "#000"; g.fillRect(0, 0, c.width, c.height);
  frame.poses.forEach((pose, i) => {
    const colour = COLOURS[(pose.id >= 0 ? pose.id : i) % COLOURS.length];
    const kp = pose.keypoints.map(([x, y, s]) => [x * c.width, y * c.height, s]);
    g.strokeStyle = colour; g.fillStyle = colour; g.lineWidth = 3;
    for (const [a, b] of LIMBS) {
      if (kp[a][2] < 0.3 || kp[b][2] < 0.3) continue;
      g.beginPath(); g.moveTo(kp[a][0], kp[a][1]); g.lineTo(kp[b][0], kp[b][1]); g.stroke();
    }
    for (const [x, y, s] of kp) if (s >= 0.3) { g.beginPath(); g.arc(x, y, 4, 0, 2 * Math.PI); g.fill(); }
  });
  $("summary").textContent = `frame ${frame.frame}: ${frame.poses.length} ${frame.poses.length === 1 ? "person" : "people"}`;
}

function showStatus(s) {
  $("name").textContent = s.device_name;
  const st = $("state");
  st.textContent = s.state;
  st.className = "pill " + (s.state === "running" ? "ok" : s.state === "degraded" ? "bad" : "warn");
  const p = s.pipeline || {};
  const rows = [["backend", s.backend], ["model", s.model], ["source", s.source],
    ["fps", p.fps], ["people", p.people], ["inference", p.inference_ms + " ms"],
    ["latency p50", p.latency_p50_ms + " ms"], ["dropped", p.frames_dropped]];
  if (s.safe_mode) rows.push(["safe mode", s.safe_mode]);
  if (s.degraded) rows.push(["problem", s.degraded]);
  if (s.pipeline_restarts) rows.push(["pipeline restarts", `${s.pipeline_restarts} (last: ${s.last_fault})`]);
  for (const t of s.targets || []) if (t.errors) rows.push([t.target, `${t.errors} errors: ${t.last_error}`]);
  $("status").replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v === undefined ? "–" : v;
    return [dt, dd];
  }));
}

function showConfig(c) {
  config = c;
  const body = $("targets").querySelector("tbody");
  body.replaceChildren(...c.targets.map((t, i) => {
    const tr = document.createElement("tr");
    for (const v of [t.host, t.port, t.format, t.coords, t.mirror ? "yes" : "no"]) {
      const td = document.createElement("td"); td.textContent = v; tr.append(td);
    }
    const td = document.createElement("td"), b = document.createElement("button");
    b.textContent = "Remove"; b.className = "remove"; b.onclick = () => change(api("DELETE", `/api/targets/${i}`), "target removed");
    td.append(b); tr.append(td); return tr;
  }));
  $("d-score").value = c.decoder.min_pose_score;
  $("d-max").value = c.decoder.max_poses;
  $("d-nms").value = c.decoder.nms_radius;
  $("s-enabled").checked = c.smoothing.enabled;
  $("s-cutoff").value = c.smoothing.min_cutoff;
  $("s-beta").value = c.smoothing.beta;
}

async function change(promise, done) {
  try { await promise; message(done, false); showConfig(await api("GET", "/api/config")); }
  catch (e) { message(e.message, true); }
}

async function loadChoices() {
  const formats = await api("GET", "/api/formats");
  for (const f of Object.keys(formats)) $("t-format").append(new Option(f, f));
  // Each format's own coordinates unless changed: pixels for the ones imitating pixel tools.
  const followFormat = () => {
    $("tc-format-label").textContent = $("t-format").value;
    $("t-coords").value = formats[$("t-format").value].coords;
  };
  $("t-format").onchange = followFormat;
  followFormat();
  const presets = await api("GET", "/api/presets");
  for (const [name, p] of Object.entries(presets)) $("t-preset").append(new Option(`${name}: ${p.description}`, name));
  // A preset fills in the form (format, coordinates, port); anything can still be changed before adding.
  $("t-preset").onchange = () => {
    const p = presets[$("t-preset").value];
    if (!p) return;
    $("t-format").value = p.format; followFormat(); $("t-coords").value = p.coords;
    if (p.port) { $("t-port").value = p.port; $("tc-port-label").textContent = p.port; }
  };
}

function init() {
  loadChoices().catch((e) => message(e.message, true));
  $("add-target").onsubmit = (e) => {
    e.preventDefault();
    change(api("POST", "/api/targets", { host: $("t-host").value, port: Number($("t-port").value),
      format: $("t-format").value, coords: $("t-coords").value, mirror: $("t-mirror").checked }), "target added");
  };
  $("this-computer").onclick = () => change(api("POST", "/api/targets/this-computer",
    { port: Number($("t-port").value), format: $("t-format").value, coords: $("t-coords").value }), "sending to this computer");
  $("t-port").oninput = () => { $("tc-port-label").textContent = $("t-port").value; };
  $("decoder").onsubmit = (e) => {
    e.preventDefault();
    change(api("PATCH", "/api/config", { decoder: { min_pose_score: Number($("d-score").value),
      max_poses: Number($("d-max").value), nms_radius: Number($("d-nms").value) } }), "saved");
  };
  $("smoothing").onsubmit = (e) => {
    e.preventDefault();
    change(api("PATCH", "/api/config", { smoothing: { enabled: $("s-enabled").checked,
      min_cutoff: Number($("s-cutoff").value), beta: Number($("s-beta").value) } }), "saved");
  };
  api("GET", "/api/config").then(showConfig).catch((e) => message(e.message, true));
  const poll = () => api("GET", "/api/status").then(showStatus).catch(() => {});
  poll(); setInterval(poll, 1000);
  const events = new EventSource("/api/poses/stream");
  events.onmessage = (e) => draw(JSON.parse(e.data));
}
init();
