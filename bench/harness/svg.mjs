// A dependency-free SVG chart of a harness report: per scenario, its headline metrics (the
// scenario's `svg` list: median of each target as a horizontal bar, min–max as a whisker).

const COLORS = { epoxy: '#d9480f', haproxy: '#1c7ed6', direct: '#868e96' };

function esc(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function renderSvg(report, scenarios, title) {
  const panels = [];
  for (const sc of scenarios) {
    const { perTarget } = report[sc.name];
    for (const [metric, label, digits] of sc.svg) {
      const rows = Object.entries(perTarget).filter(([, m]) => Number.isFinite(m[metric]?.median));
      if (rows.length) panels.push({ title: `${sc.title}: ${label}`, rows: rows.map(([name, m]) => ({ name, ...m[metric] })), digits });
    }
  }
  const width = 720;
  const left = 90;
  const barH = 18;
  const gap = 6;
  let y = 36;
  const parts = [`<text x="10" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`];
  for (const p of panels) {
    parts.push(`<text x="10" y="${y + 12}" font-size="13">${esc(p.title)}</text>`);
    y += 20;
    const max = Math.max(...p.rows.map((r) => r.max), 1e-9);
    const scale = (width - left - 90) / max;
    for (const r of p.rows) {
      // a delta can come out negative (memory freed meanwhile): draw it as an empty bar, keep the number
      const w = Math.max(0, r.median * scale);
      parts.push(`<text x="10" y="${y + 13}" font-size="12">${esc(r.name)}</text>`);
      parts.push(`<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[r.name] ?? '#555'}"/>`);
      parts.push(`<line x1="${(left + Math.max(0, r.min) * scale).toFixed(1)}" x2="${(left + Math.max(0, r.max) * scale).toFixed(1)}" y1="${y + barH / 2}" y2="${y + barH / 2}" stroke="#000" stroke-width="1.5"/>`);
      const value = r.median.toLocaleString('en-US', { maximumFractionDigits: p.digits, minimumFractionDigits: p.digits });
      parts.push(`<text x="${(left + Math.max(0, r.max) * scale + 6).toFixed(1)}" y="${y + 13}" font-size="12">${esc(value)}</text>`);
      y += barH + gap;
    }
    y += 12;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="sans-serif">\n` +
    `<rect width="100%" height="100%" fill="#fff"/>\n${parts.join('\n')}\n</svg>\n`;
}
