// Stand-in for ComfyUI's scripts/app.js with the names extensions use.
class Node {
  constructor(type) {
    this.type = type;
    this.pos = [0, 0];
    this.mode = 0;
    this.properties = {};
    this.widgets = [{ name: "reference", type: "text", value: "" }];
  }
  serialize(id) {
    return { id, type: this.type, pos: this.pos, mode: this.mode, properties: this.properties,
      widgets_values: this.widgets.map((w) => w.value) };
  }
}
window.LiteGraph = { createNode: (type) => new Node(type) };
const canvasEl = document.getElementById("canvas");
const extensions = [];
export const app = {
  canvasEl,
  graph: {
    _nodes: [],
    add(node) { this._nodes.push(node); },
    setDirtyCanvas() {},
    // LGraph.serialize(): the UI-format workflow (nodes with widgets_values).
    serialize() {
      return { last_node_id: this._nodes.length, nodes: this._nodes.map((n, i) => n.serialize(i + 1)),
        links: [], groups: [], config: {}, extra: {}, version: 0.4 };
    },
  },
  // app.loadGraphData(graphData): configure the graph, then the extensions' afterConfigureGraph.
  async loadGraphData(data) {
    this.graph._nodes = (data.nodes || []).map((d) => {
      const node = new Node(d.type);
      node.mode = d.mode || 0;
      node.properties = d.properties || {};
      node.widgets = (d.widgets_values || []).map((value, i) => ({ name: `w${i}`, value }));
      return node;
    });
    for (const ext of extensions) await ext.afterConfigureGraph?.([], this);
  },
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
