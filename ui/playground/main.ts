import { markCurrentPage } from '../shared/page-header.js';

markCurrentPage('playground');
