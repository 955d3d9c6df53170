#!/usr/bin/env node
import '../dist/bundle/launch.js';
