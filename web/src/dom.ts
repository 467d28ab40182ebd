// Tiny DOM helpers. Data only ever reaches the page through textContent and attributes, never innerHTML.

/** The single element carrying `data-testid=<id>`; a missing one is a bug in index.html. */
export function byTestId<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.querySelector<T>(`[data-testid="${id}"]`);
  if (!found) throw new Error(`index.html lacks [data-testid=${id}]`);
  return found;
}

type Attrs = Record<string, string | undefined>;

/** Creates an element with attributes (undefined ones skipped) and text or child nodes. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined) node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

export function show(node: HTMLElement, visible: boolean): void {
  node.hidden = !visible;
}
