// Model Shelf sidebar for ComfyUI: search Civitai / Novita, read a model, download it,
// drag a result onto the canvas to get our loader node. Everything it shows comes from
// the server's /modelshelf/... routes (built by the core's views); this file only renders.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { h, call, toast } from "./util.js";
import { missing, checkLoadedWorkflow } from "./missing.js";

const DRAG_TYPE = "application/x-modelshelf";
const NODE_FOR_TYPE = {
  checkpoint: "ModelShelfLoadCheckpoint",
  lora: "ModelShelfLoadLora", locon: "ModelShelfLoadLora", dora: "ModelShelfLoadLora",
  lycoris: "ModelShelfLoadLora", lyco: "ModelShelfLoadLora",
  vae: "ModelShelfLoadVae",
  controlnet: "ModelShelfLoadControlNet",
  upscaler: "ModelShelfLoadUpscaleModel",
  textualinversion: "ModelShelfEmbedding", embedding: "ModelShelfEmbedding",
};
const STORE = "modelshelf.max_nsfw";

export function nodeTypeFor(modelType) {
  return NODE_FOR_TYPE[String(modelType || "").toLowerCase().replace(/[^a-z]/g, "")] || null;
}

class Shelf {
  constructor(root) {
    this.root = root;
    this.jobs = new Map();
    this.revision = 0;
    this.options = null;
    this.cursor = null;
    this.maxNsfw = Number(localStorage.getItem(STORE) || 2);
  }

  render() {
    this.root.classList.add("modelshelf");
    this.root.replaceChildren();
    this.status = h("div", { class: "ms-status", role: "status" });
    this.provider = h("select", { "aria-label": "Provider", onchange: () => this.renderFilters() },
      h("option", { value: "civitai" }, "Civitai"), h("option", { value: "novita" }, "Novita AI"));
    this.query = h("input", { type: "text", "aria-label": "Search", placeholder: "Search",
      onkeydown: (e) => { if (e.key === "Enter") this.search(); } });
    this.filters = h("div", { class: "ms-filters" });
    this.results = h("div", { class: "ms-results" });
    this.more = h("button", { class: "ms-more", hidden: true, onclick: () => this.search(true) },
      "More results");
    this.detail = h("div", { class: "ms-detail", hidden: true });
    this.downloads = h("div", { class: "ms-downloads" });
    this.settings = h("details", { class: "ms-settings" });
    this.root.append(
      h("div", { class: "ms-bar" },
        h("label", { class: "ms-field" }, h("span", {}, "Provider"), this.provider),
        h("label", { class: "ms-field ms-grow" }, h("span", {}, "Search"), this.query),
        h("button", { class: "ms-search p-button", onclick: () => this.search() },
          h("i", { class: "pi pi-search" }), " Search")),
      h("details", { class: "ms-filter-box" }, h("summary", {}, "Filters"), this.filters),
      this.status, this.results, this.more, this.detail, missing.element(),
      h("h4", { class: "ms-heading" }, "Downloads"), this.downloads, this.settings);
    this.load();
  }

  async load() {
    try {
      this.options = await call("/options");
      this.renderFilters();
      this.renderSettings(await call("/settings"));
      const changes = await call("/downloads?since=0");
      this.applyJobs(changes);
    } catch (err) { this.say(err.message); }
  }

  say(text) { this.status.textContent = text || ""; }

  select(name, values, label, first = "Any") {
    return h("label", {}, label, h("select", { name },
      h("option", { value: "" }, first), values.map((v) => h("option", { value: v }, v))));
  }

  renderFilters() {
    if (!this.options) return;
    const provider = this.provider.value;
    const opts = this.options.providers[provider];
    const nsfw = h("select", { name: "max_nsfw", onchange: (e) => {
      this.maxNsfw = Number(e.target.value); localStorage.setItem(STORE, e.target.value); } },
      this.options.nsfw_levels.map((l) => h("option",
        { value: l.level, selected: l.level === this.maxNsfw }, `Show up to ${l.name}`)));
    const common = [this.select("types", opts.types, "Type")];
    const civitai = provider === "civitai" ? [
      h("label", {}, "Base model", h("input", { name: "base_models", placeholder: "SDXL 1.0" })),
      this.select("sort", opts.sorts, "Sort", "Default"),
      this.select("period", opts.periods, "Period", "Default"),
      h("label", {}, "Tag", h("input", { name: "tag" })),
      h("label", {}, "Creator", h("input", { name: "username" })),
      this.select("commercial_use", opts.commercial_use, "Commercial use"),
      h("label", { class: "ms-check" }, h("input", { type: "checkbox", name: "primary_file_only" }),
        "Primary file only"),
      h("label", { class: "ms-check" }, h("input", { type: "checkbox", name: "nsfw" }),
        "Include NSFW models"),
    ] : [
      this.select("visibility", opts.visibility, "Visibility"),
      h("label", {}, "Source", h("input", { name: "source" })),
      h("label", { class: "ms-check" }, h("input", { type: "checkbox", name: "is_sdxl" }), "SDXL"),
      h("label", { class: "ms-check" }, h("input", { type: "checkbox", name: "is_inpainting" }),
        "Inpainting"),
    ];
    this.filters.replaceChildren(...common, ...civitai, h("label", {}, "Previews", nsfw));
  }

  renderSettings(state) {
    const input = h("input", { type: "password", "aria-label": "Civitai API key",
      autocomplete: "off", placeholder: state.civitai_token_set ? "set (hidden)" : "not set" });
    this.settings.replaceChildren(h("summary", {}, "Settings"),
      h("label", {}, "Civitai API key", input),
      h("button", { class: "p-button", onclick: async () => {
        try {
          this.renderSettings(await call("/settings",
            { method: "POST", body: { civitai_token: input.value } }));
          toast("success", "Saved in Model Shelf's settings file.");
        } catch (err) { toast("error", err.message); }
      } }, "Save key"));
  }

  params() {
    const p = new URLSearchParams({ provider: this.provider.value, max_nsfw: this.maxNsfw });
    if (this.query.value.trim()) p.set("query", this.query.value.trim());
    for (const el of this.filters.querySelectorAll("[name]")) {
      if (el.name === "max_nsfw") continue;
      const value = el.type === "checkbox" ? (el.checked ? "true" : "") : el.value.trim();
      if (value) p.set(el.name, value);
    }
    return p;
  }

  async search(more = false) {
    const p = this.params();
    if (more && this.cursor) p.set("cursor", this.cursor);
    this.say("Searching…");
    try {
      const page = await call("/search?" + p.toString());
      if (!more) this.results.replaceChildren();
      this.detail.hidden = true;
      this.results.hidden = false;
      page.items.forEach((card) => this.results.append(this.card(card)));
      this.cursor = page.next_cursor;
      this.more.hidden = !this.cursor;
      this.say(page.items.length || more ? "" : "No models found.");
    } catch (err) { this.say(err.message); }
  }

  thumb(t, alt) {
    if (!t) return h("div", { class: "ms-thumb ms-empty" });
    const style = t.placeholder ? `background-image:url(${t.placeholder})` : null;
    const box = h("div", { class: "ms-thumb" + (t.hidden ? " ms-hidden" : ""), style });
    if (t.url) box.append(h("img", { src: t.url, alt, loading: "lazy", referrerpolicy: "no-referrer" }));
    else if (t.hidden) box.append(h("span", { class: "ms-nsfw" }, "NSFW"));
    return box;
  }

  card(c) {
    const badge = c.badge === "installed" ? h("span", { class: "ms-badge ms-installed" }, "Installed")
      : c.badge === "update" ? h("span", { class: "ms-badge ms-update" }, "Update") : null;
    const el = h("div", { class: "ms-card", draggable: "true", tabindex: "0", title: c.name,
      "data-ref": c.ref, onclick: () => this.open(c), onkeydown: (e) => { if (e.key === "Enter") this.open(c); } },
      this.thumb(c.thumbnail, c.name),
      h("div", { class: "ms-card-body" }, h("div", { class: "ms-name" }, c.name),
        h("div", { class: "ms-meta" }, [c.type, c.base_model].filter(Boolean).join(" · ")), badge));
    el.addEventListener("dragstart", (e) => {
      e.dataTransfer.setData(DRAG_TYPE, JSON.stringify({ type: c.type, ref: c.ref, name: c.name }));
      e.dataTransfer.setData("text/plain", c.ref);
      e.dataTransfer.effectAllowed = "copy";
    });
    return el;
  }

  async open(card, versionId = null) {
    this.say("Loading…");
    try {
      const q = new URLSearchParams({ max_nsfw: this.maxNsfw });
      if (versionId) q.set("version_id", versionId);
      const d = await call(`/model/${card.provider}/${encodeURIComponent(card.id)}?${q}`);
      this.renderDetail(card, d);
      this.say("");
    } catch (err) { this.say(err.message); }
  }

  renderDetail(card, d) {
    const v = d.version || { files: [], images: [], trained_words: [] };
    const words = v.trained_words.join(", ");
    const versions = h("select", { "aria-label": "Version",
      onchange: (e) => this.open(card, e.target.value) },
      d.versions.map((x) => h("option", { value: x.id, selected: x.id === v.id },
        `${x.name}${x.base_model ? " · " + x.base_model : ""}`)));
    const files = v.files.map((f) => h("div", { class: "ms-file" },
      h("span", { class: "ms-file-name" }, f.name),
      h("span", { class: "ms-meta" }, [f.size_text, f.format, f.fp].filter(Boolean).join(" · ")),
      d.installed.includes(f.name) ? h("span", { class: "ms-badge ms-installed" }, "Installed") : null,
      h("button", { class: "p-button ms-download", onclick: () => this.download(v.ref, f.id) },
        h("i", { class: "pi pi-download" }), " Download")));
    const images = v.images.map((img) => h("figure", { class: "ms-image" },
      this.thumb(img, "preview"),
      h("figcaption", {}, Object.entries(img.params || {}).filter(([, x]) => x !== null && x !== undefined && x !== "")
        .map(([k, x]) => h("div", {}, h("b", {}, k.replace("_", " ") + ": "), String(x))))));
    const description = h("div", { class: "ms-description" });
    description.innerHTML = d.description_html || "";  // sanitised by the core (views.sanitize_html)
    this.detail.replaceChildren(...[
      h("button", { class: "ms-back", onclick: () => { this.detail.hidden = true; this.results.hidden = false; } },
        h("i", { class: "pi pi-arrow-left" }), " Back"),
      h("h3", {}, d.name), h("div", { class: "ms-meta" }, `${d.type} · by ${d.creator || "?"}`),
      h("label", { class: "ms-field" }, h("span", {}, "Version"), versions),
      v.access ? h("p", { class: "ms-access" }, v.access) : null,
      h("h4", {}, "Trained words"),
      words ? h("div", { class: "ms-words" }, h("code", {}, words),
        h("button", { onclick: () => { navigator.clipboard?.writeText(words); toast("info", "Copied."); } }, "Copy"),
        h("button", { onclick: () => this.insertWords(words) }, "Insert")) : h("p", {}, "None listed."),
      h("h4", {}, "Files"), ...files,
      h("h4", {}, "Previews"), h("div", { class: "ms-images" }, ...images),
      description].filter(Boolean));
    this.results.hidden = true;
    this.more.hidden = true;
    this.detail.hidden = false;
  }

  insertWords(words) {
    const nodes = Object.values(app.canvas?.selected_nodes || {});
    const widget = nodes.flatMap((n) => n.widgets || []).find((w) =>
      ["text", "prompt", "positive"].includes(w.name) || w.type === "customtext");
    if (!widget) { toast("warn", "Select a text node (CLIP Text Encode) first."); return; }
    widget.value = widget.value ? `${widget.value}, ${words}` : words;
    app.graph?.setDirtyCanvas?.(true, true);
  }

  async download(ref, fileId) {
    try {
      this.applyJob(await call("/downloads", { method: "POST", body: { ref, file_id: fileId } }));
    } catch (err) { toast("error", err.message); }
  }

  async jobAction(job, action) {
    try { this.applyJob(await call(`/downloads/${job.id}/${action}`, { method: "POST" })); }
    catch (err) { toast("error", err.message); }
  }

  applyJobs(changes) {
    (changes.jobs || []).forEach((j) => this.applyJob(j));
  }

  applyJob(job) {
    const old = this.jobs.get(job.id);
    if (old && old.revision > job.revision) return;
    this.jobs.set(job.id, job);
    const row = h("div", { class: `ms-job ms-${job.state}`, "data-job": job.id },
      h("div", { class: "ms-job-head" }, h("span", { class: "ms-name" }, job.name),
        h("span", { class: "ms-state" }, job.label)),
      h("progress", { max: 100, value: job.percent ?? 0 }),
      h("div", { class: "ms-meta" }, [job.percent != null ? `${Math.floor(job.percent)}%` : "",
        job.size_text, job.speed_text, job.eta_text].filter(Boolean).join(" · ")),
      job.error ? h("div", { class: "ms-error" }, job.error) : null,
      job.can_cancel ? h("button", { onclick: () => this.jobAction(job, "cancel") }, "Cancel") : null,
      job.can_retry ? h("button", { onclick: () => this.jobAction(job, "retry") }, "Retry") : null);
    const existing = this.downloads.querySelector(`[data-job="${CSS.escape(job.id)}"]`);
    if (existing) existing.replaceWith(row); else this.downloads.prepend(row);
  }
}

function dropOnCanvas(event) {
  const raw = event.dataTransfer?.getData(DRAG_TYPE);
  if (!raw) return;
  event.preventDefault();
  event.stopImmediatePropagation();
  let data;
  try { data = JSON.parse(raw); } catch { return; }
  const type = nodeTypeFor(data.type);
  const LiteGraph = window.LiteGraph;
  if (!type || !LiteGraph) { toast("warn", `No Model Shelf loader for ${data.type} models.`); return; }
  const node = LiteGraph.createNode(type);
  const widget = node.widgets?.find((w) => w.name === "reference");
  if (widget) widget.value = data.ref;
  const pos = app.canvas?.convertEventToCanvasOffset?.(event);
  if (pos) node.pos = [pos[0], pos[1]];
  app.graph.add(node);
  app.graph.setDirtyCanvas?.(true, true);
}

app.registerExtension({
  name: "ModelShelf.Sidebar",
  async setup() {
    const shelves = new Set();
    api.addEventListener("modelshelf.download", (e) => {
      shelves.forEach((s) => s.applyJob(e.detail));
      missing.applyJob(e.detail);
    });
    missing.onJob = (job) => shelves.forEach((s) => s.applyJob(job));
    api.addEventListener("modelshelf.refresh", async () => {
      try { await app.refreshComboInNodes(); } catch (err) { console.warn("Model Shelf", err); }
    });
    api.addEventListener("reconnected", () => shelves.forEach((s) => call("/downloads?since=0")
      .then((c) => s.applyJobs(c)).catch(() => {})));
    const canvas = app.canvasEl;
    if (canvas) {
      canvas.addEventListener("dragover", (e) => {
        if (e.dataTransfer?.types?.includes(DRAG_TYPE)) { e.preventDefault(); e.dataTransfer.dropEffect = "copy"; }
      });
      canvas.addEventListener("drop", dropOnCanvas, true);
    }
    const css = new URL("./modelshelf.css", import.meta.url).href;
    if (!document.querySelector(`link[href="${css}"]`)) {
      document.head.append(h("link", { rel: "stylesheet", href: css }));
    }
    app.extensionManager.registerSidebarTab({
      id: "modelshelf",
      icon: "pi pi-box",
      title: "Model Shelf",
      tooltip: "Model Shelf: search and download models",
      iconBadge: () => (missing.count ? String(missing.count) : null),
      type: "custom",
      render(el) {
        const shelf = new Shelf(el);
        shelves.add(shelf);
        shelf.render();
      },
    });
  },
  // ComfyUI calls this after a workflow is opened (app.loadGraphData): one with our
  // nodes is checked at once, without holding up the load.
  afterConfigureGraph() {
    checkLoadedWorkflow().catch((err) => console.warn("Model Shelf", err));
  },
});
