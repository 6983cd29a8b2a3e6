// What the page's sections beside the review queue share: the signed-in token's storage key,
// finding elements by test id, and building elements (values only ever as text, never HTML).
"use strict";

window.agentmeshPage = Object.freeze({
  TOKEN_KEY: "agentmesh.reviewer.token",
  byTestId: (id, root = document) => root.querySelector(`[data-testid="${id}"]`),
  el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child);
    return node;
  },
});
