// Model Shelf sidebar helpers shared by its modules: element builder, route call, toast.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// One call of our routes; a FormData body goes as multipart (the browser sets the boundary).
export async function call(path, options = {}) {
  const init = { ...options };
  if (options.body instanceof FormData) init.body = options.body;
  else {
    init.headers = { "Content-Type": "application/json" };
    if (options.body && typeof options.body !== "string") init.body = JSON.stringify(options.body);
  }
  const response = await api.fetchApi("/modelshelf" + path, init);
  let data = {};
  try { data = await response.json(); } catch { data = {}; }
  if (!response.ok) throw new Error(data.error || `Model Shelf: HTTP ${response.status}`);
  return data;
}

export function toast(severity, detail) {
  const t = app.extensionManager?.toast;
  if (t?.add) t.add({ severity, summary: "Model Shelf", detail, life: 5000 });
  else console.log(`Model Shelf: ${detail}`);
}
