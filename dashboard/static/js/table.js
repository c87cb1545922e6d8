// Keyed table reconciliation: rows are matched by key and only changed cells are written,
// so a live-P&L tick touches a handful of text nodes instead of rebuilding the table.

import { el } from "./dom.js";

/**
 * columns: [{ value(row) → string, cls?(row) → string, mount?(td, row) , base?: "num" }]
 * `mount` builds a cell once (buttons); `value`/`cls` are re-evaluated on every update.
 */
export class KeyedTable {
  constructor(tbody, { key, columns, rowClass = null, emptyText = "Nothing here", onRow = null }) {
    this.tbody = tbody;
    this.key = key;
    this.columns = columns;
    this.rowClass = rowClass;
    this.onRow = onRow;
    this.rows = new Map();
    this.empty = el(
      "tr",
      { class: "empty-row" },
      el("td", { colspan: columns.length, text: emptyText }),
    );
    tbody.replaceChildren(this.empty);
  }

  _create(row) {
    const tr = el("tr");
    const cells = this.columns.map((col) => {
      const td = el("td", { class: col.base || "" });
      if (col.mount) col.mount(td, row);
      tr.append(td);
      return td;
    });
    if (this.onRow) this.onRow(tr, row);
    return { tr, cells, vals: new Array(cells.length), clss: new Array(cells.length), rc: null };
  }

  _fill(entry, row) {
    entry.row = row;
    const { cells, vals, clss } = entry;
    for (let i = 0; i < this.columns.length; i++) {
      const col = this.columns[i];
      if (col.value) {
        const v = col.value(row);
        if (vals[i] !== v) {
          vals[i] = v;
          cells[i].textContent = v;
        }
      }
      if (col.title) cells[i].title = col.title(row);
      if (col.cls) {
        const c = `${col.base || ""} ${col.cls(row) || ""}`.trim();
        if (clss[i] !== c) {
          clss[i] = c;
          cells[i].className = c;
        }
      }
    }
    if (this.rowClass) {
      const rc = this.rowClass(row) || "";
      if (entry.rc !== rc) {
        entry.rc = rc;
        entry.tr.className = rc;
      }
    }
  }

  /** Reconcile the table with `rows` (in display order). */
  update(rows) {
    const seen = new Set();
    let prev = null;
    for (const row of rows) {
      const k = this.key(row);
      if (seen.has(k)) continue;
      seen.add(k);
      let entry = this.rows.get(k);
      if (!entry) {
        entry = this._create(row);
        this.rows.set(k, entry);
      }
      this._fill(entry, row);
      const want = prev ? prev.nextSibling : this.tbody.firstChild;
      if (want !== entry.tr) this.tbody.insertBefore(entry.tr, want);
      prev = entry.tr;
    }
    for (const [k, entry] of this.rows) {
      if (!seen.has(k)) {
        entry.tr.remove();
        this.rows.delete(k);
      }
    }
    if (seen.size === 0) {
      if (!this.empty.isConnected) this.tbody.append(this.empty);
    } else if (this.empty.isConnected) {
      this.empty.remove();
    }
  }

  /** The latest data row rendered under `key`. */
  get(k) {
    const e = this.rows.get(k);
    return e ? e.row : undefined;
  }
}
