// Stand-in for ComfyUI's scripts/api.js: fetchApi prefixes /api; server events arrive on
// a websocket as {type, data} and are dispatched as CustomEvent(type, {detail: data}).
class ComfyApi extends EventTarget {
  constructor() {
    super();
    this.socket = new WebSocket(`ws://${location.host}/ws`);
    this.socket.addEventListener("message", (e) => {
      const msg = JSON.parse(e.data);
      this.dispatchEvent(new CustomEvent(msg.type, { detail: msg.data }));
    });
  }
  apiURL(route) { return "/api" + route; }
  fetchApi(route, options) { return fetch(this.apiURL(route), options); }
}
export const api = new ComfyApi();
window.__api = api;
