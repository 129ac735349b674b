// `palisade verify` on every ClusterNetworkPolicy conformance case (see verify-case-check.ts).

import t from 'tap';
import { cnpCases } from '../conformance/case-set.ts';
import { verifyEveryCase } from './verify-case-check.ts';

verifyEveryCase(t, cnpCases());
