#!/usr/bin/env node
// Validates ROS resources with the official ROS CDK (@alicloud/ros-cdk-*), the generated
// Ros<Resource>PropsValidator of each resource type ("Generated from the AliCloud ROS Resource
// Specification"). Used by tests/deploy/test_ros_cdk.py.
//
// stdin:  {"resources": [{"name": "Function", "type": "ALIYUN::FC3::Function", "properties": {...}}]}
//         properties as written in a template (PascalCase), intrinsic functions already evaluated to
//         plain values; any intrinsic left in is skipped by the validators, as the CDK skips tokens.
// stdout: {"errors": [{"resource", "type", "path", "message"}],
//          "types": {"<type>": {"attributes": [...], "properties": [...]}}}
//
// The CDK takes camelCase props and renders them to PascalCase (ros<Resource>PropsToRosTemplate and
// the nested ros<Resource><Struct>PropertyToRosTemplate). The validators are module-private, so the
// PascalCase -> camelCase mapping is read from that renderer: it is called on a Proxy that records
// which camelCase keys it reads, in order, and the keys it writes are the PascalCase names. The same
// probe one level down gives the mapping of each nested struct; a value whose renderer reads no key
// (a free map such as EnvironmentVariables or TriggerConfig, or a scalar) is passed on unchanged.
// A PascalCase key the renderer does not write is reported as an unknown property.
'use strict';

const core = require('@alicloud/ros-cdk-core');

const PACKAGES = ['@alicloud/ros-cdk-fc3', '@alicloud/ros-cdk-ram', '@alicloud/ros-cdk-ots', '@alicloud/ros-cdk-sls'];

function resourceClasses() {
  const classes = new Map();
  for (const name of PACKAGES) {
    for (const value of Object.values(require(name))) {
      if (typeof value === 'function' && typeof value.ROS_RESOURCE_TYPE_NAME === 'string') {
        classes.set(value.ROS_RESOURCE_TYPE_NAME, value);
      }
    }
  }
  return classes;
}

// While probing, nested renderers must not throw on the empty probe object (their validators run
// with every property undefined).
function withoutAssertions(fn) {
  const original = core.ValidationResult.prototype.assertSuccess;
  core.ValidationResult.prototype.assertSuccess = function noAssert() {};
  try {
    return fn();
  } finally {
    core.ValidationResult.prototype.assertSuccess = original;
  }
}

class Prober {
  constructor(instance) {
    this.instance = instance;
    this.cache = new Map();
  }

  // camelPath/pascalPath: keys from the top down, '[]' for "an element of this list".
  mapping(camelPath, pascalPath) {
    const cacheKey = pascalPath.join('/');
    if (this.cache.has(cacheKey)) {
      return this.cache.get(cacheKey);
    }
    const reads = [];
    const leaf = new Proxy({}, {
      get(_target, key) {
        if (typeof key === 'string') {
          reads.push(key);
        }
        return undefined;
      },
      ownKeys() {
        return []; // a free map (hashMapper) lists no keys and so reads none
      },
    });
    let value = leaf;
    for (let i = camelPath.length - 1; i >= 0; i -= 1) {
      value = camelPath[i] === '[]' ? [value] : { [camelPath[i]]: value };
    }
    let out = withoutAssertions(() => this.instance.renderProperties(value));
    for (const key of pascalPath) {
      out = out == null ? undefined : key === '[]' ? out[0] : out[key];
    }
    let result = null; // null: a free value, passed on as it is
    if (out != null && typeof out === 'object' && !Array.isArray(out) && reads.length > 0) {
      const written = Object.keys(out);
      const renderedReads = reads.slice(reads.length - written.length); // the validator reads first
      result = new Map(written.map((pascal, i) => [pascal, renderedReads[i]]));
    }
    this.cache.set(cacheKey, result);
    return result;
  }

  // PascalCase template value -> camelCase CDK value, collecting unknown keys.
  toCdk(value, camelPath, pascalPath, unknown) {
    if (Array.isArray(value)) {
      return value.map((item) => this.toCdk(item, [...camelPath, '[]'], [...pascalPath, '[]'], unknown));
    }
    if (value === null || typeof value !== 'object' || core.canInspect(value) === false) {
      return value;
    }
    const map = this.mapping(camelPath, pascalPath);
    if (map === null) {
      return value;
    }
    const out = {};
    for (const [pascal, sub] of Object.entries(value)) {
      const camel = map.get(pascal);
      if (camel === undefined) {
        unknown.push([...pascalPath, pascal].join('.').replace(/\.\[\]/g, '[]'));
        continue;
      }
      out[camel] = this.toCdk(sub, [...camelPath, camel], [...pascalPath, pascal], unknown);
    }
    return out;
  }
}

// The CDK's error tree (children indented by two spaces) as one line per failing leaf, each with the
// chain of its parents ("primaryKey: element 0: ... > type: ...").
function errorLines(error) {
  const lines = String(error.message || error).split('\n').filter((line) => line.trim().length > 0);
  const depth = (line) => line.length - line.trimStart().length;
  const out = [];
  const parents = [];
  lines.forEach((line, i) => {
    const level = depth(line) / 2;
    parents.length = level;
    parents.push(line.trim());
    const next = lines[i + 1];
    if (next === undefined || depth(next) <= depth(line)) {
      out.push(parents.slice(1).join(' > ') || parents[0]);
    }
  });
  return out;
}

function main(input) {
  const classes = resourceClasses();
  const recorded = [];
  const getAtt = core.RosResource.prototype.getAtt;
  core.RosResource.prototype.getAtt = function recordAttribute(name) {
    recorded.push(name);
    return getAtt.call(this, name);
  };
  // An App without outdir makes a temporary cdk.out* folder and leaves it behind: make ours, remove it.
  const fs = require('fs');
  const os = require('os');
  const path = require('path');
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ehpc-rerun-cdk-'));
  process.on('exit', () => fs.rmSync(outdir, { recursive: true, force: true }));
  const app = new core.App({ outdir });
  const stack = new core.Stack(app, 'validate');
  const errors = [];
  const types = {};
  input.resources.forEach((resource, index) => {
    const cls = classes.get(resource.type);
    if (!cls) {
      errors.push({ resource: resource.name, type: resource.type, path: '', message: 'no ROS CDK class for this type' });
      return;
    }
    recorded.length = 0;
    const probe = new cls(stack, `probe${index}`, {}, false);
    const prober = new Prober(probe);
    const topLevel = prober.mapping([], []);
    types[resource.type] = { attributes: [...recorded].sort(), properties: [...topLevel.keys()].sort() };
    const unknown = [];
    const props = prober.toCdk(resource.properties || {}, [], [], unknown);
    for (const path of unknown) {
      errors.push({ resource: resource.name, type: resource.type, path, message: `unknown property ${path}` });
    }
    const checked = new cls(stack, `checked${index}`, props, true);
    try {
      checked.renderProperties(props);
    } catch (error) {
      for (const line of errorLines(error)) {
        errors.push({ resource: resource.name, type: resource.type, path: '', message: line });
      }
    }
  });
  return { errors, types };
}

let raw = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  raw += chunk;
});
process.stdin.on('end', () => {
  process.stdout.write(`${JSON.stringify(main(JSON.parse(raw)))}\n`);
});
