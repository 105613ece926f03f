#!/usr/bin/env node
import { App } from 'aws-cdk-lib';
import { parseConfig } from '../lib/config';
import { buildSwitchboard } from '../lib/switchboard-app';

// The only place that reads context: everything below receives typed, validated config.
const app = new App();
buildSwitchboard(app, parseConfig(app.node.tryGetContext('switchboard')));
app.synth();
