// `npm run lint` step: fails when files of src/ import each other in a cycle, or when src/ folders do
// (a file of folder A imports folder B while a file of B imports A). Root files (main.ts, app.module.ts,
// entities.ts) count as nodes of their own. The graph comes from madge, which reads the TypeScript imports.
import madge from 'madge';

const result = await madge('src', {
  fileExtensions: ['ts'],
  tsConfig: 'tsconfig.json',
  excludeRegExp: [/\.spec\.ts$/],
});

const fileCycles = result.circular();
for (const cycle of fileCycles) console.error(`file cycle: ${[...cycle, cycle[0]].join(' -> ')}`);

const folderOf = (file) => (file.includes('/') ? file.slice(0, file.indexOf('/')) : file);
/** folder -> folder -> one import that makes the edge, for the message. */
const edges = new Map();
for (const [file, imports] of Object.entries(result.obj())) {
  for (const imported of imports) {
    const [from, to] = [folderOf(file), folderOf(imported)];
    if (from === to) continue;
    if (!edges.has(from)) edges.set(from, new Map());
    if (!edges.get(from).has(to)) edges.get(from).set(to, `${file} -> ${imported}`);
  }
}

// Tarjan's strongly connected components: every component of more than one folder is a cycle.
const index = new Map();
const low = new Map();
const stack = [];
const onStack = new Set();
const components = [];
let counter = 0;
function visit(node) {
  index.set(node, counter);
  low.set(node, counter++);
  stack.push(node);
  onStack.add(node);
  for (const next of edges.get(node)?.keys() ?? []) {
    if (!index.has(next)) {
      visit(next);
      low.set(node, Math.min(low.get(node), low.get(next)));
    } else if (onStack.has(next)) low.set(node, Math.min(low.get(node), index.get(next)));
  }
  if (low.get(node) !== index.get(node)) return;
  const component = [];
  let member;
  do {
    member = stack.pop();
    onStack.delete(member);
    component.push(member);
  } while (member !== node);
  if (component.length > 1) components.push(component);
}
for (const node of edges.keys()) if (!index.has(node)) visit(node);

for (const component of components) {
  console.error(`folder cycle among: ${component.sort().join(', ')}`);
  for (const from of component)
    for (const [to, example] of edges.get(from) ?? [])
      if (component.includes(to)) console.error(`  ${from} -> ${to} (e.g. ${example})`);
}

if (fileCycles.length > 0 || components.length > 0) process.exit(1);
console.log(`no import cycles between the ${Object.keys(result.obj()).length} files or the folders of src/`);
