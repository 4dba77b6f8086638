#!/usr/bin/env node
// The `slotwise` command. A plain file that exists before the build, so npm links it at install time;
// the command itself is compiled to dist/ by `npm install` (the root `prepare` script).
import "../dist/bin.js";
