/** The page's entry: reads which servers to use (`/config.json`), puts the
 *  one that served the page first, and renders the app. */

import { render } from 'preact';
import { newMeetingId } from './grants.ts';
import { loadPageConfig, serverOrder } from './page-config.ts';
import { html } from './ui/html.ts';
import { App } from './ui/app.ts';
import './styles.css';

const origin = window.location.origin;
const config = await loadPageConfig(origin);
const servers = serverOrder(origin, config.servers);
const initialSession = new URLSearchParams(window.location.search).get('session') ?? newMeetingId();
const root = document.getElementById('app');
if (root === null) throw new Error('index.html has no #app element');
root.textContent = '';
render(html`<${App} config=${config} servers=${servers} initialSession=${initialSession} />`, root);
