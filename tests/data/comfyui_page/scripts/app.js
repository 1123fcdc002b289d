// Stand-in for ComfyUI's scripts/app.js with the names extensions use.
class Node {
  constructor(type) {
    this.type = type;
    this.pos = [0, 0];
    this.widgets = [{ name: "reference", type: "text", value: "" }];
  }
}
window.LiteGraph = { createNode: (type) => new Node(type) };
const canvasEl = document.getElementById("canvas");
const extensions = [];
export const app = {
  canvasEl,
  graph: { _nodes: [], add(node) { this._nodes.push(node); }, setDirtyCanvas() {} },
  canvas: {
    selected_nodes: {},
    convertEventToCanvasOffset(e) {
      const r = canvasEl.getBoundingClientRect();
      return [e.clientX - r.left, e.clientY - r.top];
    },
  },
  refreshed: 0,
  async refreshComboInNodes() { this.refreshed += 1; },
  toasts: [],
  extensionManager: {
    tabs: [],
    toast: { add(t) { app.toasts.push(t); } },
    registerSidebarTab(tab) {
      this.tabs.push(tab);
      document.getElementById("tabs").textContent = `${tab.title} (${tab.icon})`;
      tab.render(document.getElementById("sidebar"));
    },
  },
  registerExtension(ext) { extensions.push(ext); },
  async runSetup() { for (const ext of extensions) await ext.setup?.(); },
};
window.__app = app;
