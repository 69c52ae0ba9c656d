// A small element builder, so the views build DOM without innerHTML:
// every piece of data goes in as text, never as markup.

/**
 * h('span', {class: 'badge', title: 'x'}, 'text', childNode)
 * Attributes that are null, undefined or false are left out; `true` sets an empty one.
 */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** The element with this id; it is a bug in index.html when it is missing. */
export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing from the page`);
  return node;
}
