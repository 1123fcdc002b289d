// Model Shelf sidebar, "Missing models": what the workflow on the canvas (or an image or
// workflow file dropped here) needs, as the server's core resolves it, with one
// "Download all". Downloads go through the queue (the Downloads list shows them); when
// they have all ended the node lists are refreshed and the list is checked again.
import { app } from "../../scripts/app.js";
import { h, call, toast } from "./util.js";

const ENDED = new Set(["done", "failed", "cancelled", "interrupted"]);
const BADGE = {
  installed: "ms-installed", downloaded: "ms-installed", download: "ms-missing-badge",
  guess: "ms-guess", "not-found": "ms-notfound", error: "ms-notfound", unsupported: "ms-notfound",
};

// True when a serialized graph (app.graph.serialize()) holds one of our nodes.
export function usesOurNodes(graph) {
  const lists = [graph?.nodes, ...(graph?.definitions?.subgraphs || []).map((s) => s?.nodes)];
  return lists.some((nodes) => Array.isArray(nodes)
    && nodes.some((n) => String(n?.type || "").startsWith("ModelShelf")));
}

function plural(n, word) { return `${n} ${word}${n === 1 ? "" : "s"}`; }

class MissingModels {
  constructor() {
    this.answer = null;     // the last /missing answer
    this.source = null;     // what was checked: {workflow} (the canvas) or a File
    this.jobOf = new Map(); // item index -> job view
    this.indexOf = new Map(); // job id -> item index
    this.onJob = null;      // the sidebar's downloads list wants each job too
    this.finishing = false;
    this.el = null;
  }

  get count() { return this.answer?.missing || 0; }

  // The sidebar section (built once; re-attached when the tab is opened again).
  element() {
    if (this.el) return this.el;
    this.countEl = h("span", { class: "ms-count", hidden: true });
    this.statusEl = h("div", { class: "ms-missing-status", role: "status" });
    this.list = h("div", { class: "ms-missing-list" });
    this.downloadBtn = h("button", { class: "p-button ms-download-all", disabled: true,
      onclick: () => this.downloadAll() }, h("i", { class: "pi pi-download" }), " Download all");
    const input = h("input", { type: "file", hidden: true, "aria-label": "Image or workflow file",
      accept: "image/png,image/jpeg,image/webp,.json,.txt",
      onchange: (e) => { if (e.target.files[0]) this.check(e.target.files[0]); e.target.value = ""; } });
    const drop = h("div", { class: "ms-drop", tabindex: "0", role: "button",
      "aria-label": "Drop an image or workflow file",
      onclick: () => input.click(),
      onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") input.click(); },
      ondragover: (e) => { if (e.dataTransfer?.types?.includes("Files")) {
        e.preventDefault(); e.stopPropagation(); drop.classList.add("ms-over"); } },
      ondragleave: () => drop.classList.remove("ms-over"),
      ondrop: (e) => {
        const file = e.dataTransfer?.files?.[0];
        if (!file) return;
        e.preventDefault(); e.stopPropagation();  // not ComfyUI's own drop: it would load it
        drop.classList.remove("ms-over");
        this.check(file);
      } }, "Drop an image or workflow file here, or click to choose one", input);
    this.el = h("section", { class: "ms-missing" },
      h("h4", { class: "ms-heading" }, "Missing models ", this.countEl),
      h("div", { class: "ms-missing-bar" },
        h("button", { class: "p-button ms-check", onclick: () => this.checkCanvas() },
          h("i", { class: "pi pi-search" }), " Check workflow"),
        this.downloadBtn),
      drop, this.statusEl, this.list);
    this.renderList();
    return this.el;
  }

  say(text) { if (this.statusEl) this.statusEl.textContent = text || ""; }

  checkCanvas() {
    const graph = app.graph?.serialize?.();
    if (!graph) { this.say("There is no workflow on the canvas."); return Promise.resolve(); }
    return this.check({ workflow: graph });
  }

  async check(source, { auto = false, quiet = false } = {}) {
    if (!quiet) this.say(source instanceof File ? `Reading ${source.name}…` : "Checking the workflow…");
    let answer;
    try {
      if (source instanceof File) {
        const form = new FormData();
        form.append("file", source, source.name);
        answer = await call("/missing", { method: "POST", body: form });
      } else {
        answer = await call("/missing", { method: "POST", body: source });
      }
    } catch (err) {
      this.say(err.message);
      if (!auto) toast("error", err.message);
      return null;
    }
    this.source = source;
    this.answer = answer;
    this.jobOf.clear();
    this.indexOf.clear();
    this.renderList();
    if (!quiet) this.say(this.summary());
    return answer;
  }

  // A workflow without our nodes was opened: a list made from the canvas is out of date.
  forgetCanvas() {
    if (this.source && !(this.source instanceof File)) {
      this.answer = null; this.source = null; this.renderList(); this.say("");
    }
  }

  summary() {
    const a = this.answer;
    if (!a) return "";
    if (!a.items.length) return "It names no models.";
    const text = a.missing ? `${plural(a.missing, "model")} not installed.` : "All models are installed.";
    return [text, ...a.errors].join(" ");
  }

  ticked() {
    return [...(this.list?.querySelectorAll("input.ms-accept:checked") || [])]
      .map((el) => Number(el.dataset.index));
  }

  renderList() {
    if (!this.el) return;
    const items = this.answer?.items || [];
    this.countEl.textContent = String(this.count);
    this.countEl.hidden = !this.count;
    this.list.replaceChildren(...items.map((item) => this.row(item)));
    this.updateButton();
  }

  updateButton() {
    const items = this.answer?.items || [];
    const waiting = [...this.jobOf.values()].some((j) => !ENDED.has(j.state));
    this.downloadBtn.disabled = waiting
      || !(items.some((i) => i.can_download && !this.jobOf.has(i.index)) || this.ticked().length);
  }

  row(item) {
    const job = this.jobOf.get(item.index);
    const identity = [item.model_name, item.version_name].filter(Boolean).join(" · ");
    const where = item.installed_as.length ? `in ${item.installed_as[0]}`
      : item.folder ? `to ${item.folder}/${item.file_name || ""}` : "";
    return h("div", { class: `ms-item ms-item-${item.state}`, "data-index": item.index },
      h("div", { class: "ms-item-head" },
        h("span", { class: "ms-name", title: item.name }, item.name),
        h("span", { class: `ms-badge ${BADGE[item.state] || ""}` }, item.label)),
      h("div", { class: "ms-meta" }, [item.kind, item.weight != null ? `weight ${item.weight}` : "",
        identity, item.how].filter(Boolean).join(" · ")),
      where || item.size_text ? h("div", { class: "ms-meta" },
        [where, item.size_text].filter(Boolean).join(" · ")) : null,
      item.conflict ? h("div", { class: "ms-meta" }, `A different file of this name is in ${item.conflict}.`) : null,
      item.reason ? h("div", { class: "ms-error" }, item.reason) : null,
      item.guess && !job ? h("label", { class: "ms-check" }, h("input", { type: "checkbox",
        class: "ms-accept", "data-index": item.index, onchange: () => this.updateButton() }),
        "Download this guess") : null,
      job ? h("div", { class: `ms-item-job ms-${job.state}` },
        h("progress", { max: 100, value: job.percent ?? 0 }),
        h("span", { class: "ms-state" }, job.label),
        job.error ? h("span", { class: "ms-error" }, job.error) : null) : null);
  }

  async downloadAll() {
    if (!this.answer) return;
    this.downloadBtn.disabled = true;
    let started;
    try {
      started = await call("/missing/download", { method: "POST",
        body: { plan_id: this.answer.plan_id, accept: this.ticked() } });
    } catch (err) { this.say(err.message); toast("error", err.message); this.updateButton(); return; }
    for (const { index, job } of started.jobs) {
      this.jobOf.set(index, job);
      this.indexOf.set(job.id, index);
      this.onJob?.(job);
    }
    for (const { index, error } of started.errors) {
      const item = this.answer.items.find((i) => i.index === index);
      if (item) item.reason = error;
    }
    this.renderList();
    if (!started.jobs.length) { this.say("Nothing to download."); return; }
    this.say(`Downloading ${plural(started.jobs.length, "model")}…`);
    this.finishing = false;
    // a download may have ended before its job was known here: read the queue once
    try { (await call("/downloads?since=0")).jobs.forEach((j) => this.applyJob(j)); } catch { /* events follow */ }
    this.maybeFinish();
  }

  applyJob(job) {
    const index = this.indexOf.get(job.id);
    if (index === undefined) return;
    const old = this.jobOf.get(index);
    if (old && old.revision > job.revision) return;
    this.jobOf.set(index, job);
    const item = this.answer?.items.find((i) => i.index === index);
    const row = this.list?.querySelector(`[data-index="${index}"]`);
    if (item && row) row.replaceWith(this.row(item));
    this.maybeFinish();
  }

  async maybeFinish() {
    const jobs = [...this.jobOf.values()];
    if (this.finishing || !jobs.length || !jobs.every((j) => ENDED.has(j.state))) return;
    this.finishing = true;
    const done = jobs.filter((j) => j.state === "done").length;
    const failed = jobs.length - done;
    if (done) {
      try { await app.refreshComboInNodes(); } catch (err) { console.warn("Model Shelf", err); }
    }
    await this.check(this.source, { quiet: true });
    const text = failed ? `${plural(failed, "download")} did not finish. ${this.summary()}` : this.summary();
    this.say(text);
    toast(failed ? "warn" : "success", text);
  }
}

export const missing = new MissingModels();

// The graph-loaded hook: a workflow with our nodes is checked at once.
export async function checkLoadedWorkflow() {
  const graph = app.graph?.serialize?.();
  if (!graph || !usesOurNodes(graph)) { missing.forgetCanvas(); return; }
  const answer = await missing.check({ workflow: graph }, { auto: true });
  if (answer?.missing) {
    toast("warn", `This workflow needs ${plural(answer.missing, "model")} that ${answer.missing === 1
      ? "is" : "are"} not installed: see "Missing models" in the Model Shelf sidebar.`);
  }
}
