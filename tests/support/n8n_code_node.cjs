// Runs the JavaScript of an n8n Code node ("Run Once for All Items") under plain Node.js, with
// the parts of the Code node's sandbox that a webhook handler uses: $input.all(),
// this.helpers.getBinaryDataBuffer(index, property), require and $env.
//
//   node n8n_code_node.cjs CODE_FILE ITEMS_FILE   ->  the returned items as JSON on stdout
//
// ITEMS_FILE holds [{"json": {...}, "binary": {"data": "<base64>"}}], the shape a Webhook node
// with the Raw Body option gives the next node.
'use strict';
const fs = require('fs');

const [codeFile, itemsFile] = process.argv.slice(2);
const code = fs.readFileSync(codeFile, 'utf8');
const items = JSON.parse(fs.readFileSync(itemsFile, 'utf8'));

const $input = { all: () => items.map((item) => ({ json: item.json })) };
const helpers = {
  getBinaryDataBuffer: async (index, property) =>
    Buffer.from(items[index].binary[property], 'base64'),
};
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
const node = new AsyncFunction('$input', 'require', '$env', code);

node.call({ helpers }, $input, require, process.env).then(
  (output) => process.stdout.write(JSON.stringify(output)),
  (error) => {
    process.stderr.write(`${error.stack}\n`);
    process.exit(1);
  },
);
