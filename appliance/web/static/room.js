// The room on the view (issue 22): zones drawn and edited over the camera view (or the skeletons on
// black: the picture is off by default), and the floor calibration with its grid. Zones are kept in
// 0..1 of the picture (x right, y down) or, for "floor" zones, in metres on the floor (x, y); the
// floor is four marks in the picture and the same four corners of a rectangle on the floor (width
// x depth metres). Corners are dragged with a mouse or a finger; nothing is saved until "Save".
// Uses app.js's $, el, api, change, config, draw, lastFrame.
"use strict";
const ROOM = { maxZones: 32, maxPoints: 32, grab: 24 };
const MARKS = [[0.25, 0.9], [0.75, 0.9], [0.65, 0.55], [0.35, 0.55]];
let zones = [], marks = [], selected = -1, calibrating = false, dragging = null;

// -- homographies (the same 8 x 8 solve as appliance/pose/room.py) ----------------------------------
function homography(src, dst) {
  const a = [], b = [];
  src.forEach(([x, y], i) => {
    const [u, v] = dst[i];
    a.push([x, y, 1, 0, 0, 0, -u * x, -u * y]); b.push(u);
    a.push([0, 0, 0, x, y, 1, -v * x, -v * y]); b.push(v);
  });
  for (let c = 0; c < 8; c++) {  // Gaussian elimination with partial pivoting
    let p = c;
    for (let r = c + 1; r < 8; r++) if (Math.abs(a[r][c]) > Math.abs(a[p][c])) p = r;
    if (Math.abs(a[p][c]) < 1e-12) return null;
    [a[c], a[p]] = [a[p], a[c]]; [b[c], b[p]] = [b[p], b[c]];
    for (let r = 0; r < 8; r++) {
      if (r === c) continue;
      const f = a[r][c] / a[c][c];
      for (let k = c; k < 8; k++) a[r][k] -= f * a[c][k];
      b[r] -= f * b[c];
    }
  }
  return [...b.map((v, i) => v / a[i][i]), 1];
}

function apply(h, [x, y]) {
  const w = h[6] * x + h[7] * y + h[8];
  return [(h[0] * x + h[1] * y + h[2]) / w, (h[3] * x + h[4] * y + h[5]) / w];
}

function floorRect() {
  const w = Number($("floor-width").value), d = Number($("floor-depth").value);
  return [[0, 0], [w, 0], [w, d], [0, d]];
}

function toPicture() { return marks.length === 4 ? homography(floorRect(), marks) : null; }
function toFloor() { return marks.length === 4 ? homography(marks, floorRect()) : null; }

// -- drawing (called by app.js's draw, after the skeletons) -------------------------------------------
function drawRoom(g, w, h, mirror) {
  const view = ([x, y]) => [(mirror ? 1 - x : x) * w, y * h];
  const onPicture = toPicture();
  if (marks.length === 4 && onPicture) drawGrid(g, onPicture, view);
  zones.forEach((z, i) => {
    const pts = z.space === "floor" ? (onPicture ? z.points.map((p) => apply(onPicture, p)) : []) : z.points;
    if (!pts.length) return;
    const px = pts.map(view);
    g.strokeStyle = i === selected ? "#ffd25a" : "#8fc1ff"; g.fillStyle = i === selected ? "rgba(255,210,90,.18)" : "rgba(143,193,255,.12)";
    g.lineWidth = 3; g.beginPath();
    px.forEach(([x, y], k) => (k ? g.lineTo(x, y) : g.moveTo(x, y)));
    g.closePath(); g.fill(); g.stroke();
    g.fillStyle = "#fff"; g.font = "bold 15px system-ui, sans-serif"; g.fillText(z.name, px[0][0] + 6, px[0][1] + 18);
    if (i === selected) for (const [x, y] of px) { g.beginPath(); g.arc(x, y, 9, 0, 2 * Math.PI); g.fill(); }
  });
  if (calibrating) marks.map(view).forEach(([x, y], k) => {
    g.fillStyle = "#5aff8c"; g.beginPath(); g.arc(x, y, 10, 0, 2 * Math.PI); g.fill();
    g.fillStyle = "#000"; g.font = "bold 13px system-ui, sans-serif"; g.fillText(String(k + 1), x - 4, y + 5);
  });
}

function drawGrid(g, onPicture, view) {
  // One line a metre across the calibrated rectangle (and the rectangle itself), drawn through the
  // homography: on a good calibration it lies on the floor's own lines.
  const [, [w], [, d]] = floorRect();
  g.strokeStyle = "rgba(90,255,140,.7)"; g.lineWidth = 1.5;
  const line = (a, b) => {
    g.beginPath();
    for (let k = 0; k <= 20; k++) {
      const [x, y] = view(apply(onPicture, [a[0] + (b[0] - a[0]) * k / 20, a[1] + (b[1] - a[1]) * k / 20]));
      k ? g.lineTo(x, y) : g.moveTo(x, y);
    }
    g.stroke();
  };
  for (let x = 0; x <= w + 1e-9; x += Math.max(w / 50, 1)) line([x, 0], [x, d]);
  for (let y = 0; y <= d + 1e-9; y += Math.max(d / 50, 1)) line([0, y], [w, y]);
  line([w, 0], [w, d]); line([0, d], [w, d]);
}

// -- dragging corners and marks -----------------------------------------------------------------------
function canvasPoint(e) {
  const c = $("view"), r = c.getBoundingClientRect();
  let x = (e.clientX - r.left) / r.width, y = (e.clientY - r.top) / r.height;
  if ($("mirror-view").checked) x = 1 - x;
  return [Math.min(Math.max(x, 0), 1), Math.min(Math.max(y, 0), 1)];
}

function handles() {
  // What can be grabbed: the calibration marks, else the selected zone's corners (in 0..1).
  if (calibrating) return marks.map((p, k) => ({ p, set: (q) => { marks[k] = q; } }));
  const z = zones[selected];
  if (!z) return [];
  if (z.space !== "floor") return z.points.map((p, k) => ({ p, set: (q) => { z.points[k] = q; } }));
  const on = toPicture(), off = toFloor();
  if (!on || !off) return [];
  return z.points.map((p, k) => ({ p: apply(on, p), set: (q) => { z.points[k] = apply(off, q).map((v) => Math.round(v * 1000) / 1000); } }));
}

function redraw() { draw(lastFrame || { frame: 0, width: 0, height: 0, poses: [] }); }

function onDown(e) {
  const c = $("view"), r = c.getBoundingClientRect(), at = canvasPoint(e);
  const near = handles().map((hd) => [Math.hypot((hd.p[0] - at[0]) * r.width, (hd.p[1] - at[1]) * r.height), hd]).sort((a, b) => a[0] - b[0])[0];
  if (!near || near[0] > ROOM.grab) return;
  dragging = near[1]; c.setPointerCapture(e.pointerId); e.preventDefault();
}

function onMove(e) {
  if (!dragging) return;
  dragging.set(canvasPoint(e).map((v) => Math.round(v * 10000) / 10000)); redraw(); e.preventDefault();
}

// -- the panel ------------------------------------------------------------------------------------------
function pointChoices() {
  const zone = schema.$defs && schema.$defs.Zone;
  return zone ? zone.properties.point.enum : ["feet", "centre", "hands"];
}

function zoneRow(z, i) {
  const name = el("input", { value: z.name, maxLength: 32, size: 10, ariaLabel: "zone name", dataset: { path: `zones.${i}.name` } });
  name.oninput = () => { z.name = name.value; redraw(); };
  const point = el("select", { ariaLabel: "what counts" }, ...pointChoices().map((p) => el("option", { value: p, textContent: p })));
  point.value = z.point; point.onchange = () => { z.point = point.value; };
  const space = el("select", { ariaLabel: "space" }, el("option", { value: "image", textContent: "picture 0..1" }), el("option", { value: "floor", textContent: "floor (m)" }));
  space.value = z.space;
  space.onchange = () => {
    const conv = space.value === "floor" ? toFloor() : toPicture();
    if (!conv) { space.value = z.space; message("calibrate the floor first", true); return; }
    z.points = z.points.map((p) => apply(conv, p).map((v) => Math.round(v * 1000) / 1000)); z.space = space.value; redraw();
  };
  const edit = el("button", { type: "button", className: "small", textContent: i === selected ? "editing" : "edit corners" });
  edit.onclick = () => { selected = i; calibrating = false; renderZones(); };
  const more = el("button", { type: "button", className: "small", textContent: "+ corner", disabled: z.points.length >= ROOM.maxPoints });
  more.onclick = () => { const [a, b] = [z.points[z.points.length - 1], z.points[0]]; z.points.push([(a[0] + b[0]) / 2, (a[1] + b[1]) / 2]); selected = i; renderZones(); };
  const fewer = el("button", { type: "button", className: "small", textContent: "− corner", disabled: z.points.length <= 3 });
  fewer.onclick = () => { z.points.pop(); renderZones(); };
  const remove = el("button", { type: "button", className: "small", textContent: "remove" });
  remove.onclick = () => { zones.splice(i, 1); selected = -1; renderZones(); };
  return el("li", { className: "zone" }, name, point, space, edit, more, fewer, remove, el("span", { className: "error", id: `e-zones-${i}-name` }));
}

function renderZones() {
  $("zones").replaceChildren(...zones.map(zoneRow));
  $("add-zone").disabled = zones.length >= ROOM.maxZones;
  $("calibrate").textContent = calibrating ? "Done placing marks" : "Calibrate the floor";
  $("view").classList.toggle("editing", selected >= 0 || calibrating);  // a finger drags, not scrolls
  redraw();
}

function freeName() {
  for (let k = 1; ; k++) if (!zones.some((z) => z.name === `zone${k}`)) return `zone${k}`;
}

function loadRoom() {
  zones = structuredClone(config.zones || []);
  const floor = config.floor || { image: [], floor: [] };
  marks = structuredClone(floor.image);
  if (floor.floor.length === 4) {
    $("floor-width").value = Math.max(...floor.floor.map((p) => p[0])) - Math.min(...floor.floor.map((p) => p[0]));
    $("floor-depth").value = Math.max(...floor.floor.map((p) => p[1])) - Math.min(...floor.floor.map((p) => p[1]));
  }
  selected = -1; calibrating = false;
  renderZones();
}

function startRoom() {
  const c = $("view");
  c.addEventListener("pointerdown", onDown);
  c.addEventListener("pointermove", onMove);
  c.addEventListener("pointerup", () => { dragging = null; });
  c.addEventListener("pointercancel", () => { dragging = null; });
  $("add-zone").onclick = () => {
    zones.push({ name: freeName(), points: [[0.35, 0.45], [0.65, 0.45], [0.65, 0.95], [0.35, 0.95]], space: "image", point: "feet" });
    selected = zones.length - 1; calibrating = false; renderZones();
  };
  $("save-zones").onclick = async () => {
    if (await change(api("PATCH", "/api/config", { zones }), "zones saved", $("room"))) loadRoom();
  };
  $("calibrate").onclick = () => {
    calibrating = !calibrating; selected = -1;
    if (calibrating && marks.length !== 4) marks = structuredClone(MARKS);
    renderZones();
  };
  for (const id of ["floor-width", "floor-depth"]) $(id).oninput = redraw;
  $("save-floor").onclick = async () => {
    if (marks.length !== 4) { message("place the four marks first (Calibrate the floor)", true); return; }
    if (await change(api("PATCH", "/api/config", { floor: { image: marks, floor: floorRect() } }), "floor saved", $("room"))) loadRoom();
  };
  $("clear-floor").onclick = async () => {
    if (await change(api("PATCH", "/api/config", { floor: { image: [], floor: [] } }), "floor cleared", $("room"))) loadRoom();
  };
  loadRoom();
}
