/** TLS listeners: certificates, versions, HSTS, HTTP/2, client certificates. */
import { z } from 'zod';
import { duration } from '../config/units.js';

export const tlsSchema = z
  .strictObject({
    certificates: z
      .array(z.strictObject({
        cert: z.string().describe('PEM certificate chain file (relative to the config file)'),
        key: z.string().describe('PEM private key file (relative to the config file)'),
      }))
      .default([])
      .describe('Certificates, chosen by SNI from the names in each one\'s SAN list; the first is the default'),
    acme: z
      .strictObject({
        email: z.string().email().describe('Account contact e-mail'),
        directory: z.string().url().describe('ACME directory URL, e.g. https://acme-v02.api.letsencrypt.org/directory'),
        challenge: z.enum(['http-01', 'tls-alpn-01']).default('http-01').describe('Challenge type: http-01 (answered on every listener; the CA asks on port 80) or tls-alpn-01 (answered in the TLS handshake on every TLS listener; the CA connects to port 443)'),
        domains: z.array(z.string()).optional().describe('Names to certify; by default the exact host names of the routes on this listener'),
        storage: z.string().default('.gatehouse/acme').describe('Directory (relative to the config file) for the account key and certificates, reused across restarts'),
        ca: z.string().optional().describe('PEM file trusted for the directory\'s own TLS (for a test CA such as pebble)'),
      })
      .optional()
      .describe('Automatic certificates (RFC 8555) for the route host names on this listener; renewed when a third of the lifetime is left'),
    min_version: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2').describe('Oldest TLS version accepted'),
    hsts: duration.optional().describe('Send Strict-Transport-Security with this max-age on every TLS response, e.g. 1y or 180d'),
    h2: z.boolean().default(true).describe('Offer HTTP/2 by ALPN (HTTP/1.1 stays available)'),
    client_auth: z
      .strictObject({
        ca: z.string().describe('PEM file of the CAs that sign client certificates'),
        required: z.boolean().default(true).describe('Refuse clients without a valid certificate (false: optional, verified when sent)'),
        forward_headers: z.boolean().default(false).describe('Send the verified subject and SHA-256 fingerprint upstream (X-Client-Cert-Subject, X-Client-Cert-Fingerprint)'),
      })
      .optional()
      .describe('Mutual TLS: client certificates checked against a CA bundle'),
  })
  .describe('Terminate TLS on this listener');

export const redirectHttpsSchema = z
  .boolean()
  .default(false)
  .describe('Answer every request with a redirect to https (301 for GET/HEAD, 308 otherwise), to the first TLS listener\'s port');

export type TlsConfig = z.output<typeof tlsSchema>;
