import 'uplot/dist/uPlot.min.css';
import { markCurrentPage } from '../shared/page-header.js';

markCurrentPage('dashboard');
