// The PALISADE-DNS rules (egress to domain names, issue 16; iptables.ts installs them): DNS
// answers to the pods a domainNames policy selects go to the DNS learner before delivery.
// NFQUEUE mode: to the DNS queue. TUN mode: marked with the DNS divert mark, which routes them
// into the learner's own TUN device (agent/dns-wiring.ts). Addresses come in checked and
// canonical (iptables.ts checkAddress).

import type { RulePlan } from './rule-plan.ts';

/** TUN mode: the mark that routes DNS answers into the DNS TUN device. */
export const DEFAULT_DNS_DIVERT_MARK = 0x08000000;

const hex = (m: number): string => '0x' + (m >>> 0).toString(16);

/** The queue DNS answers go to: the one after the judge's queues. */
export function dnsQueue(plan: Pick<RulePlan, 'queue' | 'queues'>): number {
  return plan.queue + plan.queues;
}

/** TUN mode: the DNS TUN device (plan.dnsTunDevice) is the judge's device name with "-d" (within 15 bytes). */
export function dnsTunName(tunDevice: string): string {
  const n = tunDevice.slice(0, 13) + '-d';
  return n === tunDevice ? tunDevice.slice(0, 13) + '-e' : n;
}

/** The rules of `chain` (PALISADE-DNS) for the pods at `addresses` (canonical, one family). */
export function dnsAnswerRules(chain: string, plan: RulePlan, addresses: readonly string[]): string[] {
  if (plan.mode === 'nfqueue') {
    // Replies on a flow the pod opened only: an answer nobody asked for is not learned from.
    const target = `-j NFQUEUE --queue-num ${dnsQueue(plan)}${plan.failOpen ? ' --queue-bypass' : ''}`;
    return addresses.map((a) => `-A ${chain} -d ${a} -m conntrack --ctstate ESTABLISHED --ctdir REPLY ${target}`);
  }
  if (!plan.dnsDivertMark) return [];
  const m = hex(plan.dnsDivertMark), d = hex(plan.divertMark ?? 0), ad = hex((plan.allowMark | (plan.divertMark ?? 0)) >>> 0);
  // Not on a connection the judge denied (divert bit without the allow bit): a diverted packet's
  // connection is confirmed even when dropped, so its "reply" must stay judged.
  return addresses.map((a) => `-A ${chain} -d ${a} -m connmark ! --mark ${d}/${ad} -m conntrack --ctstate ESTABLISHED --ctdir REPLY -j MARK --set-xmark ${m}/${m}`);
}
