// Small live plots of the last minutes (fps, people, latency, temperature), drawn on canvases from the
// status the page already polls every second, after the box's own last minutes (one request when the
// page opens, so a drop before it was opened shows too); no external script or font.
// Each sample is [time in ms since the epoch, value]; null values (the box unreachable, no sensor)
// break the line, so an outage shows as a gap. Times on the axis are this computer's clock (HH:MM).
"use strict";

const PLOT_MINUTES = 10;

class Plot {
  constructor(canvas, { label, unit, colour, digits = 1, floor = 1 }) {
    Object.assign(this, { canvas, label, unit, colour, digits, floor });
    this.samples = [];
  }

  // Older samples (the box's own history), merged in time order.
  seed(samples) {
    this.samples = [...samples, ...this.samples].sort((a, b) => a[0] - b[0]);
  }

  add(t, value) {
    this.samples.push([t, value]);
    const oldest = t - PLOT_MINUTES * 60000;
    while (this.samples.length && this.samples[0][0] < oldest) this.samples.shift();
  }

  // The value range: 0 to a round number at or above the largest value (at least `floor`).
  top() {
    const max = Math.max(this.floor, ...this.samples.map((s) => s[1] ?? 0));
    const step = 10 ** Math.floor(Math.log10(max));
    return Math.ceil(max / step) * step;
  }

  draw(now) {
    const c = this.canvas, ratio = window.devicePixelRatio || 1;
    const w = c.clientWidth || 300, h = c.clientHeight || 72;
    if (c.width !== Math.round(w * ratio)) { c.width = Math.round(w * ratio); c.height = Math.round(h * ratio); }
    const g = c.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    const left = 2, right = w - 2, top = 16, bottom = h - 14, span = PLOT_MINUTES * 60000, start = now - span;
    const x = (t) => left + ((t - start) / span) * (right - left);
    const ymax = this.top(), y = (v) => bottom - (v / ymax) * (bottom - top);
    g.font = "11px system-ui, sans-serif";
    g.fillStyle = "#9aa0ab"; g.strokeStyle = "#343844"; g.lineWidth = 1;
    for (let m = Math.ceil(start / 60000) * 60000; m <= now; m += 60000) {  // a line at every minute
      g.beginPath(); g.moveTo(x(m) + 0.5, top); g.lineTo(x(m) + 0.5, bottom); g.stroke();
      const d = new Date(m);
      if (d.getMinutes() % 2 === 0) {  // a time every two minutes
        const text = `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
        g.fillText(text, Math.min(x(m) - 14, right - 30), h - 2);
      }
    }
    g.beginPath(); g.moveTo(left, bottom + 0.5); g.lineTo(right, bottom + 0.5); g.stroke();
    g.strokeStyle = this.colour; g.lineWidth = 1.5; g.beginPath();
    let drawing = false, points = 0, gaps = 0;
    for (const [t, v] of this.samples) {
      if (v == null) { gaps += drawing; drawing = false; continue; }
      if (drawing) g.lineTo(x(t), y(v)); else g.moveTo(x(t), y(v));
      drawing = true; points++;
    }
    g.stroke();
    const last = this.samples.at(-1)?.[1];
    g.fillStyle = "#e9e9ec";
    g.fillText(`${this.label} ${last == null ? "–" : last.toFixed(this.digits)}${this.unit}`, left, 11);
    g.fillStyle = "#9aa0ab";
    const scale = `max ${ymax}${this.unit}`;
    g.fillText(scale, right - g.measureText(scale).width, 11);
    c.dataset.points = String(points);
    c.dataset.first = String(this.samples[0]?.[0] ?? "");
    c.dataset.gaps = String(gaps);
    c.dataset.last = last == null ? "" : String(last);
  }
}

// The plots of the page, fed one status document (or null: unreachable) per poll.
class Plots {
  constructor(container) {
    const make = (key, options) => {
      const canvas = document.createElement("canvas");
      canvas.className = "plot"; canvas.dataset.plot = key;
      canvas.setAttribute("aria-label", `${options.label}, the last ${PLOT_MINUTES} minutes`);
      container.append(canvas);
      return new Plot(canvas, options);
    };
    this.plots = {
      fps: make("fps", { label: "fps", unit: "", colour: "#5ac8ff", digits: 1, floor: 5 }),
      people: make("people", { label: "people", unit: "", colour: "#5aff8c", digits: 0, floor: 2 }),
      latency: make("latency", { label: "latency p50", unit: " ms", colour: "#ffd25a", digits: 1, floor: 10 }),
      temperature: make("temperature", { label: "SoC", unit: " °C", colour: "#ff9a5a", digits: 1, floor: 50 }),
    };
  }

  // The box's last minutes (GET /api/status/history: [unix s, fps, people, latency ms, °C] each), so
  // a page opened after a drop still shows it.
  seed(history, now = Date.now()) {
    const column = { fps: 1, people: 2, latency: 3, temperature: 4 };
    for (const [key, plot] of Object.entries(this.plots)) {
      plot.seed(history.map((s) => [s[0] * 1000, typeof s[column[key]] === "number" ? s[column[key]] : null]));
      plot.draw(now);
    }
  }

  add(status, now = Date.now()) {
    const p = status?.pipeline;
    const values = {
      fps: p?.fps, people: p?.people, latency: p?.latency_p50_ms, temperature: status?.temperature_c,
    };
    for (const [key, plot] of Object.entries(this.plots)) {
      plot.add(now, typeof values[key] === "number" ? values[key] : null);
      plot.draw(now);
    }
  }
}

window.Plots = Plots;
