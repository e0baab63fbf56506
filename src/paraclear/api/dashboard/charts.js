/* Small canvas charts for the dashboard: line and scatter series on shared axes.
 * No dependencies. Each draw sets canvas.dataset.points to the number of points drawn,
 * so a test (or a person in the console) can see that a chart has data. */
"use strict";

const Charts = (() => {
  const AXIS = "#8b96a3";
  const GRID = "#262d36";
  const FONT = "11px system-ui, sans-serif";

  function niceStep(span, ticks) {
    const raw = span / Math.max(ticks, 1);
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const unit = raw / power;
    return (unit < 1.5 ? 1 : unit < 3 ? 2 : unit < 7 ? 5 : 10) * power;
  }

  function formatTick(value, step) {
    const size = Math.abs(value);
    if (step !== undefined && step < size / 100) {
      return value.toLocaleString("en-US", { maximumFractionDigits: Math.max(0, -Math.floor(Math.log10(step))) });
    }
    if (size >= 1e6) return (value / 1e6).toFixed(1) + "M";
    if (size >= 1e4) return (value / 1e3).toFixed(0) + "k";
    if (size >= 100) return value.toFixed(0);
    if (size >= 1) return value.toFixed(1).replace(/\.0$/, "");
    return value.toPrecision(2);
  }

  /** Size the canvas's backing store to its CSS size times the pixel ratio. */
  function prepare(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 400;
    const height = Number(canvas.getAttribute("height")) || 160;
    if (canvas.width !== Math.round(width * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.style.height = height + "px";
      canvas.height = Math.round(height * ratio);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = FONT;
    return { ctx, width, height };
  }

  function bounds(series, key, options) {
    let lo = Infinity, hi = -Infinity;
    for (const s of series) for (const p of s.points) {
      const v = p[key];
      if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    }
    if (key === 1 && options.yMin !== undefined) lo = Math.min(lo, options.yMin);
    if (!Number.isFinite(lo)) return [0, 1];
    if (hi === lo) { const pad = Math.abs(hi) * 0.1 || 1; return [lo - pad, hi + pad]; }
    if (key === 1) { const pad = (hi - lo) * 0.08; return [options.yMin === 0 ? lo : lo - pad, hi + pad]; }
    return [lo, hi];
  }

  /**
   * Draw ``series`` ([{label, color, points: [[x, y], ...], dots, dashed}]) on ``canvas``.
   * Options: xFormat (tick label), yMin (include this value), empty (text with no data).
   */
  function draw(canvas, series, options = {}) {
    const { ctx, width, height } = prepare(canvas);
    const total = series.reduce((n, s) => n + s.points.filter((p) => Number.isFinite(p[1])).length, 0);
    canvas.dataset.points = String(total);
    if (!total) {
      ctx.fillStyle = AXIS;
      ctx.textAlign = "center";
      ctx.fillText(options.empty || "waiting for data…", width / 2, height / 2);
      return;
    }
    const left = 56, right = 10, top = 18, bottom = 20;
    const [x0, x1] = bounds(series, 0, options);
    const [y0, y1] = bounds(series, 1, options);
    const sx = (x) => left + ((x - x0) / (x1 - x0 || 1)) * (width - left - right);
    const sy = (y) => height - bottom - ((y - y0) / (y1 - y0 || 1)) * (height - top - bottom);
    // grid and y ticks
    ctx.strokeStyle = GRID;
    ctx.fillStyle = AXIS;
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    const yStep = niceStep(y1 - y0, 4);
    for (let y = Math.ceil(y0 / yStep) * yStep; y <= y1; y += yStep) {
      ctx.beginPath(); ctx.moveTo(left, sy(y)); ctx.lineTo(width - right, sy(y)); ctx.stroke();
      ctx.fillText(formatTick(y, yStep), left - 4, sy(y));
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const xStep = niceStep(x1 - x0 || 1, Math.max(2, Math.floor((width - left) / 90)));
    const xFormat = options.xFormat || formatTick;
    for (let x = Math.ceil(x0 / xStep) * xStep; x <= x1; x += xStep) {
      ctx.fillText(xFormat(x), sx(x), height - bottom + 4);
    }
    // series
    for (const s of series) {
      const points = s.points.filter((p) => Number.isFinite(p[1]));
      ctx.strokeStyle = s.color;
      ctx.fillStyle = s.color;
      ctx.lineWidth = 1.6;
      ctx.setLineDash(s.dashed ? [4, 3] : []);
      ctx.beginPath();
      points.forEach((p, i) => (i ? ctx.lineTo(sx(p[0]), sy(p[1])) : ctx.moveTo(sx(p[0]), sy(p[1]))));
      if (!s.dotsOnly) ctx.stroke();
      ctx.setLineDash([]);
      if (s.dots || points.length === 1) {
        for (const p of points) { ctx.beginPath(); ctx.arc(sx(p[0]), sy(p[1]), 3, 0, 2 * Math.PI); ctx.fill(); }
      }
    }
    // legend
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    let lx = left + 4;
    for (const s of series) {
      if (!s.label) continue;
      ctx.fillStyle = s.color;
      ctx.fillRect(lx, 4, 10, 3);
      ctx.fillStyle = AXIS;
      ctx.fillText(s.label, lx + 14, 0);
      lx += ctx.measureText(s.label).width + 28;
    }
  }

  return { draw, formatTick };
})();
